//! From firing alerts to queued notices: routes pick the integrations,
//! groups gather alerts into one notice and pace it (group wait, group
//! interval, repeat interval), silences mute, and a resolved notice follows
//! a firing one. The groups' memory lives in the outbox file, saved with the
//! queue, so a crash neither repeats nor loses a notice.

use super::engine::Alert;
use super::outbox::{Group, Item, Notification, Outbox};
use super::silence::Matcher;
use crate::clock::Ts;
use crate::config::AlertingConfig;
use std::collections::{BTreeMap, BTreeSet};

/// A route, with `[alerting]`'s values filled in.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name (`default` for the fallthrough route).
    pub name: String,
    matchers: Vec<Matcher>,
    /// Where its notices go.
    pub integrations: Vec<String>,
    group_by: Vec<String>,
    group_wait: f64,
    group_interval: f64,
    repeat: f64,
    send_resolved: bool,
    fallback: Vec<String>,
    cont: bool,
}

/// The routes in order; the last is the default.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
    /// Integration name -> type.
    kinds: BTreeMap<String, String>,
}

impl Router {
    /// Builds the routes; `integrations` are (name, type). The error names the key.
    pub fn new(cfg: &AlertingConfig, integrations: &[(String, String)]) -> Result<Router, String> {
        let names: Vec<String> = integrations.iter().map(|(n, _)| n.clone()).collect();
        let known = |path: &str, list: &[String]| -> Result<(), String> {
            match list.iter().find(|i| !names.contains(i)) {
                Some(i) => Err(format!(
                    "{path}: no integration named {i:?} (have: {})",
                    names.join(", ")
                )),
                None => Ok(()),
            }
        };
        let group_by = |path: &str, g: &[String]| -> Result<Vec<String>, String> {
            for l in g {
                if l != "..." && !super::engine::LABELS.contains(&l.as_str()) {
                    return Err(format!(
                        "{path}: no label {l:?}; labels are {} (or \"...\")",
                        super::engine::LABELS.join(", ")
                    ));
                }
            }
            Ok(g.to_vec())
        };
        let mut routes = Vec::new();
        for (i, r) in cfg.routes.iter().enumerate() {
            let p = format!("alerting.routes[{i}]");
            known(&format!("{p}.integrations"), &r.integrations)?;
            let fallback = r.fallback.clone().unwrap_or_else(|| cfg.fallback.clone());
            known(&format!("{p}.fallback"), &fallback)?;
            let mut matchers = Vec::new();
            for (k, v) in &r.matchers {
                matchers
                    .push(Matcher::new(k, v, false, true).map_err(|e| format!("{p}.match: {e}"))?);
            }
            for (k, v) in &r.match_re {
                matchers.push(
                    Matcher::new(k, v, true, true).map_err(|e| format!("{p}.match_re: {e}"))?,
                );
            }
            routes.push(Route {
                name: if r.name.is_empty() {
                    format!("route{i}")
                } else {
                    r.name.clone()
                },
                matchers,
                integrations: r.integrations.clone(),
                group_by: group_by(
                    &format!("{p}.group_by"),
                    r.group_by.as_ref().unwrap_or(&cfg.group_by),
                )?,
                group_wait: r.group_wait.unwrap_or(cfg.group_wait).as_secs_f64(),
                group_interval: r.group_interval.unwrap_or(cfg.group_interval).as_secs_f64(),
                repeat: r
                    .repeat_interval
                    .unwrap_or(cfg.repeat_interval)
                    .as_secs_f64(),
                send_resolved: r.send_resolved.unwrap_or(cfg.send_resolved),
                fallback,
                cont: r.continue_matching,
            });
        }
        let default_to = cfg.integrations.clone().unwrap_or_else(|| names.clone());
        known("alerting.integrations", &default_to)?;
        known("alerting.fallback", &cfg.fallback)?;
        routes.push(Route {
            name: "default".into(),
            matchers: Vec::new(),
            integrations: default_to,
            group_by: group_by("alerting.group_by", &cfg.group_by)?,
            group_wait: cfg.group_wait.as_secs_f64(),
            group_interval: cfg.group_interval.as_secs_f64(),
            repeat: cfg.repeat_interval.as_secs_f64(),
            send_resolved: cfg.send_resolved,
            fallback: cfg.fallback.clone(),
            cont: false,
        });
        let mut seen = BTreeSet::new();
        if let Some(r) = routes.iter().find(|r| !seen.insert(r.name.clone())) {
            return Err(format!(
                "alerting.routes: duplicate route name {:?}",
                r.name
            ));
        }
        Ok(Router {
            routes,
            kinds: integrations.iter().cloned().collect(),
        })
    }

    /// The routes an alert takes: the matching ones in order, stopping at
    /// the first without `continue`; the default when none matches.
    pub fn routes_for(&self, a: &Alert) -> Vec<usize> {
        let mut out = Vec::new();
        let last = self.routes.len() - 1;
        for (i, r) in self.routes[..last].iter().enumerate() {
            if r.matchers.iter().all(|m| m.matches(a)) {
                out.push(i);
                if !r.cont {
                    return out;
                }
            }
        }
        if out.is_empty() {
            out.push(last);
        }
        out
    }

    fn group_key(&self, route: usize, a: &Alert) -> String {
        let by = &self.routes[route].group_by;
        if by.iter().any(|l| l == "...") {
            return a.fingerprint();
        }
        by.iter()
            .map(|l| format!("{l}={:?}", a.label(l)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An integration that depends on the channel the alert is about: a
    /// Telegram alert sent by Telegram may never arrive.
    fn affected(&self, integration: &str, a: &Item) -> bool {
        self.kinds.get(integration).map(String::as_str) == Some("telegram")
            && a.channel.as_deref() == Some("telegram")
    }
}

/// What one evaluation queued.
#[derive(Debug, Default)]
pub struct Dispatched {
    /// Notices queued (one per integration).
    pub queued: usize,
    /// Notices dropped to keep the outbox bounded.
    pub dropped: Vec<Notification>,
    /// The outbox changed and needs saving.
    pub changed: bool,
}

fn notice_id(route: &str, key: &str, g: &Group, items: &[Item], repeat: bool) -> String {
    let base = if let [one] = items {
        format!("{}@{}/{}", one.fingerprint(), one.active_since, one.status)
    } else {
        format!("{key}#{}", g.seq)
    };
    let base = if route == "default" {
        base
    } else {
        format!("{route}:{base}")
    };
    if repeat {
        format!("{base}/{}", g.repeat)
    } else {
        base
    }
}

/// Turns the firing set into queued notices at `now`. `muted` says which
/// alerts a silence covers: they are neither announced nor resolved. With
/// `complete` false (no gateway poll yet after a start) the firing set may
/// lack alerts that still fire, so nothing resolves.
pub fn dispatch(
    outbox: &mut Outbox,
    router: &Router,
    firing: &[Alert],
    muted: impl Fn(&Alert) -> bool,
    complete: bool,
    now: Ts,
) -> Dispatched {
    let mut out = Dispatched::default();
    let mut current: BTreeMap<String, BTreeMap<String, &Alert>> = BTreeMap::new();
    let mut quiet: BTreeSet<String> = BTreeSet::new();
    for a in firing {
        if muted(a) {
            quiet.insert(a.fingerprint());
            continue;
        }
        for r in router.routes_for(a) {
            let gid = format!("{}\u{1f}{}", router.routes[r].name, router.group_key(r, a));
            current.entry(gid).or_default().insert(a.fingerprint(), a);
        }
    }
    let gids: BTreeSet<String> = outbox
        .groups
        .keys()
        .cloned()
        .chain(current.keys().cloned())
        .collect();
    let empty = BTreeMap::new();
    for gid in gids {
        let (rname, key) = gid.split_once('\u{1f}').unwrap_or((&gid, ""));
        // A group of a route that no longer exists is forgotten.
        let Some(route) = router.routes.iter().find(|r| r.name == rname) else {
            outbox.groups.remove(&gid);
            out.changed = true;
            continue;
        };
        let cur = current.get(&gid).unwrap_or(&empty);
        let g = outbox.groups.entry(gid.clone()).or_insert_with(|| Group {
            first_seen: now,
            ..Default::default()
        });
        // Muted or moved to another route: forgotten without a notice.
        let before = g.notified.len();
        g.notified
            .retain(|fp, _| cur.contains_key(fp) || !quiet.contains(fp));
        out.changed |= g.notified.len() != before;
        let new: Vec<&str> = cur
            .keys()
            .filter(|fp| !g.notified.contains_key(*fp))
            .map(String::as_str)
            .collect();
        let resolved: Vec<String> = g
            .notified
            .keys()
            .filter(|fp| complete && !cur.contains_key(*fp))
            .cloned()
            .collect();
        let flush = match g.last_flush {
            None => !cur.is_empty() && now - g.first_seen >= route.group_wait,
            Some(last) => {
                let changed = !new.is_empty() || !resolved.is_empty();
                (changed && now - last >= route.group_interval)
                    || (!changed && !cur.is_empty() && now - last >= route.repeat)
            }
        };
        if flush {
            let repeat = new.is_empty() && resolved.is_empty();
            let firing_items: Vec<Item> = cur.values().map(|a| Item::of(a, "firing")).collect();
            let mut resolved_items: Vec<Item> = resolved
                .iter()
                .filter_map(|fp| g.notified.get(fp))
                .map(|i| Item {
                    status: "resolved".into(),
                    ..i.clone()
                })
                .collect();
            g.notified = cur
                .iter()
                .map(|(fp, a)| (fp.clone(), Item::of(a, "firing")))
                .collect();
            g.last_flush = Some(now);
            out.changed = true;
            // Only resolutions, and nobody wants them: nothing to say.
            let say = !firing_items.is_empty() && (!new.is_empty() || repeat)
                || route.send_resolved && !resolved_items.is_empty();
            if say {
                if !route.send_resolved {
                    resolved_items.clear();
                }
                let mut items = firing_items;
                items.extend(resolved_items);
                g.seq += 1;
                g.repeat = if repeat { g.repeat + 1 } else { 0 };
                let status = if items.iter().any(|i| i.status == "firing") {
                    "firing"
                } else {
                    "resolved"
                };
                let n = Notification {
                    id: notice_id(rname, key, g, &items, repeat),
                    integration: String::new(),
                    status: status.into(),
                    route: rname.into(),
                    group: key.into(),
                    alerts: items,
                    created: now,
                    attempts: 0,
                    next_at: now,
                    failing_since: None,
                    fallback: route.fallback.clone(),
                };
                let mut targets: Vec<&String> = route.integrations.iter().collect();
                if route
                    .integrations
                    .iter()
                    .any(|i| n.alerts.iter().any(|a| router.affected(i, a)))
                {
                    targets.extend(&route.fallback);
                }
                let mut sent = BTreeSet::new();
                for i in targets {
                    if sent.insert(i) {
                        out.dropped.extend(outbox.push(Notification {
                            integration: i.clone(),
                            ..n.clone()
                        }));
                        out.queued += 1;
                    }
                }
            }
        } else if complete && g.last_flush.is_some() && cur.is_empty() && resolved.is_empty() {
            // Everything in it was muted.
            g.notified.clear();
        }
        let g = &outbox.groups[&gid];
        if cur.is_empty() && g.notified.is_empty() && (complete || g.last_flush.is_none()) {
            outbox.groups.remove(&gid);
            out.changed = true;
        }
    }
    out
}

/// Queues a one-off notice: every route that matches `a` sends it once to
/// its integrations, with no grouping, repeat or resolved notice.
pub fn notice(outbox: &mut Outbox, router: &Router, a: &Alert, id: &str, now: Ts) -> Dispatched {
    let mut out = Dispatched::default();
    let mut sent = BTreeSet::new();
    for r in router.routes_for(a) {
        let route = &router.routes[r];
        let item = Item::of(a, "firing");
        let mut targets: Vec<&String> = route.integrations.iter().collect();
        if route.integrations.iter().any(|i| router.affected(i, &item)) {
            targets.extend(&route.fallback);
        }
        for i in targets {
            if !sent.insert(i.clone()) {
                continue;
            }
            out.dropped.extend(outbox.push(Notification {
                id: id.to_string(),
                integration: i.clone(),
                status: "firing".into(),
                route: route.name.clone(),
                group: String::new(),
                alerts: vec![item.clone()],
                created: now,
                attempts: 0,
                next_at: now,
                failing_since: None,
                fallback: route.fallback.clone(),
            }));
            out.queued += 1;
            out.changed = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;
    use std::time::Duration;

    fn alert(name: &'static str, channel: &str, since: Ts) -> Alert {
        Alert {
            name,
            severity: "critical",
            channel: Some(channel.into()),
            account: Some("default".into()),
            integration: None,
            active_since: since,
            summary: format!("{channel} broke"),
            description: String::new(),
            fix: String::new(),
            runbook: String::new(),
        }
    }

    /// One route to the webhook, an empty outbox and one firing alert.
    fn hook_router() -> (Router, Outbox, [Alert; 1]) {
        let cfg = AlertingConfig {
            integrations: Some(vec!["hook".into()]),
            ..Default::default()
        };
        let r = Router::new(&cfg, &ints()).unwrap();
        let a = [alert("OpenClawChannelAuthRequired", "whatsapp", 0.0)];
        (r, Outbox::new(100), a)
    }

    fn ints() -> Vec<(String, String)> {
        vec![
            ("hook".into(), "webhook".into()),
            ("mail".into(), "email".into()),
            ("tg".into(), "telegram".into()),
        ]
    }

    fn queued(o: &mut Outbox) -> Vec<(String, String)> {
        let v = o
            .pending
            .iter()
            .map(|n| (n.integration.clone(), n.id.clone()))
            .collect();
        o.pending.clear();
        v
    }

    #[test]
    fn fire_repeat_resolve_once_each() {
        let cfg = AlertingConfig {
            repeat_interval: Duration::from_secs(100),
            integrations: Some(vec!["hook".into(), "mail".into()]),
            ..Default::default()
        };
        let r = Router::new(&cfg, &ints()).unwrap();
        let mut o = Outbox::new(100);
        let firing = [alert("OpenClawChannelAuthRequired", "whatsapp", 10.0)];
        let no = |_: &Alert| false;
        assert_eq!(dispatch(&mut o, &r, &firing, no, true, 10.0).queued, 2);
        assert_eq!(dispatch(&mut o, &r, &firing, no, true, 50.0).queued, 0);
        assert_eq!(dispatch(&mut o, &r, &firing, no, true, 110.0).queued, 2);
        assert_eq!(dispatch(&mut o, &r, &[], no, true, 120.0).queued, 2);
        assert_eq!(dispatch(&mut o, &r, &[], no, true, 130.0).queued, 0);
        assert!(o.groups.is_empty());
        let fp = "OpenClawChannelAuthRequired/whatsapp/default@10";
        assert_eq!(
            queued(&mut o),
            vec![
                ("hook".into(), format!("{fp}/firing")),
                ("mail".into(), format!("{fp}/firing")),
                ("hook".into(), format!("{fp}/firing/1")),
                ("mail".into(), format!("{fp}/firing/1")),
                ("hook".into(), format!("{fp}/resolved")),
                ("mail".into(), format!("{fp}/resolved")),
            ]
        );
    }

    #[test]
    fn routes_match_in_order_and_fall_through() {
        let cfg = AlertingConfig {
            routes: vec![
                RouteConfig {
                    name: "wa".into(),
                    matchers: [("channel".to_string(), "whatsapp".to_string())].into(),
                    integrations: vec!["mail".into()],
                    continue_matching: true,
                    ..Default::default()
                },
                RouteConfig {
                    name: "crit".into(),
                    match_re: [("alertname".to_string(), ".*AuthRequired".to_string())].into(),
                    integrations: vec!["hook".into()],
                    ..Default::default()
                },
            ],
            integrations: Some(vec!["tg".into()]),
            ..Default::default()
        };
        let r = Router::new(&cfg, &ints()).unwrap();
        let route_names = |a: &Alert| -> Vec<String> {
            r.routes_for(a)
                .into_iter()
                .map(|i| r.routes[i].name.clone())
                .collect()
        };
        assert_eq!(
            route_names(&alert("OpenClawChannelAuthRequired", "whatsapp", 0.0)),
            ["wa", "crit"]
        );
        assert_eq!(
            route_names(&alert("OpenClawChannelDown", "whatsapp", 0.0)),
            ["wa"]
        );
        assert_eq!(
            route_names(&alert("OpenClawChannelDown", "discord", 0.0)),
            ["default"]
        );
        let mut bad = cfg.clone();
        bad.routes[0].integrations = vec!["pager".into()];
        assert_eq!(
            Router::new(&bad, &ints()).unwrap_err(),
            "alerting.routes[0].integrations: no integration named \"pager\" (have: hook, mail, tg)"
        );
        bad.routes[0].integrations = vec!["mail".into()];
        bad.routes[0].group_by = Some(vec!["chanel".into()]);
        assert!(Router::new(&bad, &ints())
            .unwrap_err()
            .starts_with("alerting.routes[0].group_by: no label \"chanel\""));
    }

    #[test]
    fn groups_wait_gather_and_pace() {
        let cfg = AlertingConfig {
            group_by: vec!["alertname".into()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(60),
            integrations: Some(vec!["hook".into()]),
            ..Default::default()
        };
        let r = Router::new(&cfg, &ints()).unwrap();
        let mut o = Outbox::new(100);
        let no = |_: &Alert| false;
        let a = alert("OpenClawChannelDown", "whatsapp", 0.0);
        let b = alert("OpenClawChannelDown", "discord", 5.0);
        let c = alert("OpenClawChannelDown", "telegram", 40.0);
        assert_eq!(
            dispatch(&mut o, &r, std::slice::from_ref(&a), no, true, 0.0).queued,
            0
        );
        assert_eq!(
            dispatch(&mut o, &r, &[a.clone(), b.clone()], no, true, 29.0).queued,
            0
        );
        assert_eq!(
            dispatch(&mut o, &r, &[a.clone(), b.clone()], no, true, 30.0).queued,
            1
        );
        assert_eq!(o.pending[0].alerts.len(), 2);
        assert_eq!(
            o.pending[0].title(),
            "2 alerts firing (OpenClawChannelDown)"
        );
        let all = [a.clone(), b.clone(), c.clone()];
        assert_eq!(
            dispatch(&mut o, &r, &all, no, true, 40.0).queued,
            0,
            "interval"
        );
        assert_eq!(dispatch(&mut o, &r, &all, no, true, 90.0).queued, 1);
        assert_eq!(
            dispatch(&mut o, &r, &[a.clone(), c.clone()], no, true, 160.0).queued,
            1
        );
        let last = o.pending.back().unwrap();
        assert_eq!(
            last.alerts
                .iter()
                .map(|i| (i.channel.as_deref().unwrap(), i.status.as_str()))
                .collect::<Vec<_>>(),
            [
                ("telegram", "firing"),
                ("whatsapp", "firing"),
                ("discord", "resolved")
            ]
        );
        assert_eq!(last.id, "alertname=\"OpenClawChannelDown\"#3");
    }

    #[test]
    fn nothing_resolves_before_the_first_poll() {
        let (r, mut o, a) = hook_router();
        let no = |_: &Alert| false;
        assert_eq!(dispatch(&mut o, &r, &a, no, true, 0.0).queued, 1);
        // A restart: no accounts known yet.
        assert_eq!(dispatch(&mut o, &r, &[], no, false, 10.0).queued, 0);
        assert_eq!(o.groups.len(), 1);
        assert_eq!(dispatch(&mut o, &r, &a, no, true, 20.0).queued, 0);
        assert_eq!(dispatch(&mut o, &r, &[], no, true, 30.0).queued, 1);
    }

    #[test]
    fn silences_mute_without_resolving() {
        let (r, mut o, a) = hook_router();
        let all = |_: &Alert| true;
        let no = |_: &Alert| false;
        assert_eq!(dispatch(&mut o, &r, &a, all, true, 0.0).queued, 0);
        assert_eq!(dispatch(&mut o, &r, &[], all, true, 10.0).queued, 0);
        assert!(o.groups.is_empty());
        // Announced, then silenced, then resolved: nothing more is said.
        assert_eq!(dispatch(&mut o, &r, &a, no, true, 20.0).queued, 1);
        assert_eq!(dispatch(&mut o, &r, &a, all, true, 30.0).queued, 0);
        assert_eq!(dispatch(&mut o, &r, &[], all, true, 40.0).queued, 0);
        assert!(o.groups.is_empty());
    }

    #[test]
    fn a_telegram_alert_also_goes_to_the_fallback() {
        let cfg = AlertingConfig {
            integrations: Some(vec!["tg".into()]),
            fallback: vec!["mail".into()],
            ..Default::default()
        };
        let r = Router::new(&cfg, &ints()).unwrap();
        let mut o = Outbox::new(100);
        let no = |_: &Alert| false;
        dispatch(
            &mut o,
            &r,
            &[alert("OpenClawChannelAuthRequired", "telegram", 0.0)],
            no,
            true,
            0.0,
        );
        dispatch(
            &mut o,
            &r,
            &[alert("OpenClawChannelAuthRequired", "whatsapp", 0.0)],
            no,
            true,
            1.0,
        );
        let got: Vec<String> = queued(&mut o).into_iter().map(|(i, _)| i).collect();
        // The telegram alert fires (tg + mail) and resolves (tg + mail); the whatsapp one goes by tg.
        assert_eq!(got, ["tg", "mail", "tg", "mail", "tg"]);
    }
}
