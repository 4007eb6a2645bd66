//! `GET /console` (contract §8, §9.7): the page may not be framed by another site.

use crate::helpers::{spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn the_console_forbids_framing_and_keeps_its_policy() {
    let app = spawn_app(&[]).await;
    let response = app.get("/console").await;
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("x-frame-options"), "DENY");
    let policy = header("content-security-policy");
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for directive in [
        "frame-ancestors 'none'",
        "default-src 'self'",
        "img-src 'self' data:",
    ] {
        assert!(
            directives.contains(&directive),
            "{directive} missing: {policy}"
        );
    }
    assert!(
        directives
            .iter()
            .any(|d| d.starts_with("script-src 'self'")),
        "{policy}"
    );
    assert!(
        directives.iter().any(|d| d.starts_with("style-src 'self'")),
        "{policy}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_console_is_off_without_an_admin_token() {
    let app = spawn_app_with(Options {
        admin_token: Some(""),
        ..Options::default()
    })
    .await;
    let response = app.get("/console").await;
    assert_eq!(response.status().as_u16(), 404);
    app.stop().await;
}
