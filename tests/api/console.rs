//! `GET /console` and its assets (docs/http-api.md): the page may not be framed by another
//! site, and its policy allows no inline script or style.

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

#[tokio::test]
async fn the_console_policy_allows_no_inline_script_or_style_and_every_file_carries_it() {
    let app = spawn_app(&[]).await;
    let page = app.get("/console").await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    let html = page.text().await.unwrap();
    for inline in [
        "<script>",
        "<style",
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
    ] {
        assert!(!html.contains(inline), "the page has inline {inline:?}");
    }
    for (file, content_type) in [
        ("console.css", "text/css"),
        ("app.js", "text/javascript"),
        ("api.js", "text/javascript"),
        ("dom.js", "text/javascript"),
    ] {
        let response = app.get(&format!("/console/assets/{file}")).await;
        assert_eq!(response.status().as_u16(), 200, "{file}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{file}: {:?}",
            headers["content-type"]
        );
        assert_eq!(headers["content-security-policy"].to_str().unwrap(), policy);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!response.text().await.unwrap().is_empty(), "{file}");
    }
    let missing = app.get("/console/assets/secret.txt").await;
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("secret.txt"),
        "{body}"
    );
    app.stop().await;
}
