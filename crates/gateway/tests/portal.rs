//! The portal's side of the gateway over real sockets: the page and its
//! assets as served (types, security headers, revalidation), and the API
//! additions the page reads (`/v1/election`, `/v1/regions`, `/v1/mismatches`),
//! against a real nats-server, ledger and gateway fed the sample election.
//! The page itself is tested in a browser by `tests/browser/`.

use std::time::{Duration, Instant};

use serde_json::Value;
use tallylog_core::event::Kind;
use tallylog_core::sample;

mod common;
use common::{start, Stack};

impl Stack {
    fn get(&self, path: &str) -> (u16, ureq::Response) {
        let agent = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(60))
            .build();
        match agent.get(&format!("{}{path}", self.http)).call() {
            Ok(r) => (r.status(), r),
            Err(ureq::Error::Status(s, r)) => (s, r),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    fn json(&self, path: &str) -> (u16, Value) {
        let (status, r) = self.get(path);
        (status, serde_json::from_reader(r.into_reader()).unwrap())
    }

    fn ok(&self, path: &str) -> Value {
        let (status, v) = self.json(path);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Waits until the gateway has folded `size` entries.
    fn wait_for(&self, size: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.ok("/healthz")["size"] != size as u64 {
            assert!(
                Instant::now() < deadline,
                "the gateway never reached {size}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_page_and_its_assets_are_served_with_types_security_headers_and_etags() {
    let stack = start(Default::default());
    let (status, r) = stack.get("/");
    assert_eq!(status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let etag = r.header("etag").unwrap().to_owned();
    let page = r.into_string().unwrap();
    assert!(page.contains(r#"<script src="/assets/app.js" defer></script>"#));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    // A returning browser revalidates and gets an empty 304.
    let r = ureq::get(&format!("{}/", stack.http))
        .set("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.into_string().unwrap(), "");

    for (name, mime) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let (status, r) = stack.get(&format!("/assets/{name}"));
        assert_eq!(status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(mime), "{name}");
        assert_ne!(r.header("etag"), Some(etag.as_str()), "{name}");
        let body = r.into_string().unwrap();
        assert!(!body.is_empty());
        assert!(
            !body.contains("https://"),
            "{name} loads nothing from elsewhere"
        );
    }
    let (status, v) = stack.json("/assets/../lib.rs");
    assert_eq!(status, 404, "{v}");
    let (status, v) = stack.json("/assets/nothing.js");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // The script never turns data into markup.
    let (_, r) = stack.get("/assets/app.js");
    let js = r.into_string().unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }

    // Before the log has an election, the page's questions say so.
    let (status, v) = stack.json("/v1/election");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("no_election"))
    );

    let doc = stack.ok("/openapi.json");
    for p in [
        "/",
        "/v1/election",
        "/v1/regions",
        "/v1/regions/{code}",
        "/v1/mismatches",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} is not documented");
    }
}

#[test]
fn election_regions_and_mismatches_answer_what_the_page_asks() {
    let stack = start(Default::default());
    let events = sample::events();
    // Up to the party agent's complaint: the observer's copy of 01/01/01/0002
    // still differs from the official form (a recount settles it later).
    let before = events
        .iter()
        .position(|e| e.event().kind() == Kind::ComplaintFiled)
        .unwrap();
    stack.submit_nats(&events[..before]);
    stack.wait_for(before);

    let e = stack.ok("/v1/election")["answer"].clone();
    assert_eq!(e["id"], sample::ELECTION);
    assert_eq!(e["name"], "Sample National Assembly Election 2023");
    assert_eq!(e["parties"][1]["name"], "Beta Party");
    assert_eq!(e["contests"][0]["id"], "na");
    assert_eq!(e["log"]["origin"], sample::ORIGIN);
    let status = stack.ok("/v1/status")["answer"]["sources"].clone();
    assert_eq!(
        e["sources"], status,
        "the sources, without hashing the projection"
    );
    assert_eq!(
        e["sources"][0]["name"],
        "authority:National Election Committee"
    );

    // The whole election: its provinces with names and station counts.
    let all = stack.ok("/v1/regions")["answer"].clone();
    assert_eq!(all["level"], "national");
    assert_eq!(all["name"], "Sample National Assembly Election 2023");
    assert_eq!(all["stations"], 4);
    assert_eq!(all["path"], serde_json::json!([]));
    assert_eq!(all["children"]["level"], "province");
    let provinces: Vec<(String, u64)> = all["children"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_owned(),
                r["stations"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(provinces, [("01".to_owned(), 2), ("02".to_owned(), 2)]);
    assert_eq!(all["children"]["rows"][1]["name"], "Kampot / កំពត");

    // A province: a constituency with seats; a commune: its stations.
    let p = stack.ok("/v1/regions/01")["answer"].clone();
    assert_eq!(
        (&p["level"], &p["name"], &p["seats"]["na"]),
        (&"province".into(), &"Battambang / បាត់ដំបង".into(), &3.into())
    );
    let c = stack.ok("/v1/regions/01/01/01")["answer"].clone();
    assert_eq!(c["level"], "commune");
    assert_eq!(
        c["path"],
        serde_json::json!([
            {"region": "01", "name": "Battambang / បាត់ដំបង"},
            {"region": "01/01", "name": "Sangkae / សង្កែ"},
        ])
    );
    assert_eq!(c["children"]["level"], "station");
    assert_eq!(c["children"]["total"], 2);
    assert_eq!(c["children"]["rows"][1]["region"], "01/01/01/0002");
    assert_eq!(c["children"]["rows"][1]["registered"], 550);
    // Paged, so a district of a thousand communes never comes whole.
    let page = stack.ok("/v1/regions/01/01/01?offset=1&limit=1")["answer"].clone();
    assert_eq!(page["children"]["total"], 2);
    assert_eq!(page["children"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(page["children"]["rows"][0]["region"], "01/01/01/0002");

    let s = stack.ok("/v1/regions/01/01/01/0002")["answer"].clone();
    assert_eq!(
        (&s["level"], &s["registered"], &s["stations"]),
        (&"station".into(), &550.into(), &1.into())
    );
    assert_eq!(s["children"]["total"], 0);
    assert_eq!(s["path"].as_array().unwrap().len(), 3);

    for (path, status, code) in [
        ("/v1/regions/09", 404, "no_such_region"),
        ("/v1/regions/01/01/01/0009", 404, "no_such_region"),
        ("/v1/regions/01/01/01/0001/5", 400, "bad_region"),
        ("/v1/regions/01?limit=x", 400, "bad_query"),
        ("/v1/regions?level=province", 400, "bad_query"),
    ] {
        let (got, v) = stack.json(path);
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
    }

    // Only the stations whose figures differ, not those one source lacks.
    let m = stack.ok("/v1/mismatches?b=Citizens%20Observer%20Network")["answer"].clone();
    assert_eq!(m["total"], 1, "{m}");
    let row = &m["rows"][0];
    assert_eq!(
        (&row["station"], &row["verdict"]),
        (&"01/01/01/0002".into(), &"mismatch".into())
    );
    assert_eq!(
        row["differences"],
        serde_json::json!([
            {"field": "votes.ALPHA", "a": 300, "b": 260},
            {"field": "votes.BETA", "a": 120, "b": 160},
        ])
    );
    let cmp = stack.ok("/v1/compare?b=Citizens%20Observer%20Network")["answer"].clone();
    assert_eq!(m["overall"], cmp["overall"]);
    assert!(
        cmp["rows"].as_array().unwrap().len() > 1,
        "compare also lists stations only one source published: {cmp}"
    );
    let inside =
        stack.ok("/v1/mismatches?b=Citizens%20Observer%20Network&within=02")["answer"].clone();
    assert_eq!(inside["total"], 0);
    for (path, status) in [
        ("/v1/mismatches", 400),
        ("/v1/mismatches?b=Nobody", 404),
        ("/v1/mismatches?b=BETA&contest=senate", 404),
        ("/v1/mismatches?b=BETA&within=%2F", 400),
    ] {
        let (got, v) = stack.json(path);
        assert_eq!(got, status, "{path}: {v}");
    }

    // The rest of the sample: the recount settles the disputed station, and
    // the list agrees with the full comparison.
    stack.submit_nats(&events[before..]);
    stack.wait_for(events.len());
    let m = stack.ok("/v1/mismatches?b=BETA")["answer"].clone();
    let cmp = stack.ok("/v1/compare?b=BETA")["answer"].clone();
    let expected: Vec<&Value> = cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "mismatch")
        .collect();
    assert_eq!(
        m["rows"].as_array().unwrap().iter().collect::<Vec<_>>(),
        expected
    );
}
