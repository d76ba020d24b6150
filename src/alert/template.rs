//! Notice texts: MiniJinja templates with defaults that say what broke,
//! since when, why, and what to do. `[[integrations]] subject` and
//! `template` replace them per integration.

use super::outbox::Notification;
use minijinja::Environment;

/// The default subject (email).
pub const SUBJECT: &str =
    "[{{ status|upper }}{% if alerts|length > 1 %}:{{ alerts|length }}{% endif %}] {{ title }}";

/// The default text (email body, Telegram message).
pub const TEXT: &str = r#"{{ "🔥 FIRING" if status == "firing" else "✅ RESOLVED" }}: {{ title }}
{% for a in alerts %}
{% if alerts|length > 1 %}{{ loop.index }}. {{ a.status|upper }}: {{ a.summary }}
{% endif %}What broke: {{ a.summary }}{% if a.status == "resolved" %} (resolved){% endif %}
Since:      {{ a.since }} ({{ a.for }})
Why:        {{ a.description }}
What to do: {{ a.fix }}
Runbook:    {{ a.runbook }}
Alert:      {{ a.alert }} ({{ a.severity }})
{% endfor %}
--
clawwatch {{ version }} · notice {{ id }}
"#;

/// The compiled templates of one integration.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the templates; the error says which one and where.
    pub fn new(subject: Option<&str>, text: Option<&str>) -> Result<Templates, String> {
        let mut env = Environment::new();
        env.add_template_owned("subject", subject.unwrap_or(SUBJECT).to_string())
            .map_err(|e| format!("subject: {e}"))?;
        env.add_template_owned("template", text.unwrap_or(TEXT).to_string())
            .map_err(|e| format!("template: {e}"))?;
        Ok(Templates { env })
    }

    fn render(&self, name: &str, n: &Notification, now: crate::clock::Ts) -> String {
        let alerts: Vec<serde_json::Value> = n
            .alerts
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a).unwrap_or_default();
                let secs = (now - a.active_since).max(0.0) as u64;
                // Minutes are enough once it is over an hour.
                let secs = if secs >= 3600 { secs / 60 * 60 } else { secs };
                let age = std::time::Duration::from_secs(secs);
                v["since"] = crate::clock::rfc3339(a.active_since).into();
                v["for"] = humantime::format_duration(age).to_string().into();
                v["description"] = crate::redact::redact(&a.description).into();
                v
            })
            .collect();
        let ctx = serde_json::json!({
            "id": n.id, "status": n.status, "title": n.title(), "route": n.route,
            "group": n.group, "alerts": alerts, "version": env!("CARGO_PKG_VERSION"),
        });
        let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                // A template that fails at send time still gets the notice out.
                format!("{}\n\n(clawwatch: template {name} failed: {e})", n.title())
            })
    }

    /// One line for a subject.
    pub fn subject(&self, n: &Notification, now: crate::clock::Ts) -> String {
        self.render("subject", n, now).replace(['\r', '\n'], " ")
    }

    /// The message text.
    pub fn text(&self, n: &Notification, now: crate::clock::Ts) -> String {
        self.render("template", n, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_say_what_since_why_and_fix() {
        let mut n = crate::alert::outbox::tests::n("x");
        n.alerts[0].summary = "whatsapp account default needs a person to re-authenticate".into();
        n.alerts[0].description = "logged out, +15551234567 gone".into();
        n.alerts[0].fix = "Relink.".into();
        let t = Templates::new(None, None).unwrap();
        assert_eq!(
            t.subject(&n, 0.0),
            "[FIRING] whatsapp account default needs a person to re-authenticate"
        );
        let text = t.text(&n, 0.0);
        for want in [
            "🔥 FIRING: whatsapp account default",
            "Since:      1970-01-01T00:00:01.000Z",
            "Why:        logged out, <redacted-number> gone",
            "What to do: Relink.",
            "Runbook:    r\nAlert:      OpenClawChannelAuthRequired (critical)",
            "notice x",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert!(!text.contains("5551234567"));
    }

    #[test]
    fn custom_templates_and_errors() {
        let n = crate::alert::outbox::tests::n("x");
        let t = Templates::new(Some("{{ alerts[0].alert }}"), Some("{{ status }}")).unwrap();
        assert_eq!(t.subject(&n, 0.0), "OpenClawChannelAuthRequired");
        assert_eq!(t.text(&n, 0.0), "firing");
        let e = Templates::new(None, Some("{% for %}")).unwrap_err();
        assert!(e.starts_with("template: syntax error"), "{e}");
    }
}
