//! The public results portal: one web page, served at `/`, that shows the
//! results and the disagreements live, for people rather than programs.
//!
//! The page is plain HTML, CSS and JavaScript under `portal/`, built into the
//! binary: nothing to install, no build step, no third-party host to trust
//! or to go down on election night. It reads only the public JSON API
//! (`/v1/...`) and the live stream, so it shows nothing a program could not
//! fetch and check itself, and a page and a program never disagree.
//!
//! Every text the page shows from the log (a complaint's summary, a ruling's
//! reasoning, an organisation's name) is written by publishers, so the page
//! inserts it as text, never as markup, and the Content-Security-Policy
//! below allows scripts from this origin only, as a second line of defence.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::limits::error;

/// A file of the page: its name under `/assets/`, its type and its bytes.
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    mime: "text/html; charset=utf-8",
    body: include_bytes!("portal/index.html"),
};

const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("portal/app.js"),
    },
    Asset {
        name: "style.css",
        mime: "text/css; charset=utf-8",
        body: include_bytes!("portal/style.css"),
    },
    Asset {
        name: "icon.svg",
        mime: "image/svg+xml",
        body: include_bytes!("portal/icon.svg"),
    },
];

/// Scripts, styles and connections to this origin only; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /assets/NAME`: its script, style sheet and icon.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(a, &headers),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such asset; the portal is at /",
        ),
    }
}

/// Serves a file with an entity tag, so that a returning browser asks
/// "has it changed?" and gets an empty 304 instead of the file: the page
/// stays fresh after an upgrade and costs almost nothing otherwise.
fn serve(a: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(a);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let common = [
        (
            header::ETAG,
            HeaderValue::from_str(tag).expect("hex is a valid header"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        a.body,
    )
        .into_response()
}

/// A quoted FNV-1a hash of the file, computed once per file. It only has to
/// change when the file does; nothing relies on it being hard to forge.
fn etag(a: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS.iter())
            .map(|a| {
                let h = a.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                (a.name, format!("\"{h:016x}\""))
            })
            .collect()
    });
    tags.iter()
        .find(|(n, _)| *n == a.name)
        .map(|(_, t)| t.as_str())
        .expect("invariant: every asset has a tag")
}
