// Embeds the git revision for clawwatch_build_info.
fn main() {
    let rev = std::env::var("CLAWWATCH_REVISION").ok().or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    });
    println!(
        "cargo:rustc-env=CLAWWATCH_REVISION={}",
        rev.unwrap_or_else(|| "unknown".into())
    );
    println!("cargo:rerun-if-env-changed=CLAWWATCH_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
}
