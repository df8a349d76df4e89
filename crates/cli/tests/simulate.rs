//! `tallylog simulate` as a user runs it: the same directory, byte for byte,
//! for a size and a seed, whatever is asked of --out; and a whole simulated
//! election submitted to `tallylog up` (or published live), tallied against
//! figures worked out here from the events themselves, certified, exported
//! and audited.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tallylog_core::checkpoint::LogVerifier;
use tallylog_core::event::{Payload, ResultForm, Role, SignedEvent};
use tallylog_core::receipt::Receipt;
use tallylog_core::types::{EventId, PublicKey, StationCode};
use tallylog_sim::election::Size;
use tallylog_sim::output::{self, Manifest, Participants};

const BIN: &str = env!("CARGO_BIN_EXE_tallylog");

fn tallylog(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Asserts that the command succeeded and returns its standard output.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that the command could not run (exit 2) and said `why`.
fn refused(out: Output, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn simulate(size: Size, seed: u64, out: &Path, extra: &[&str]) -> Output {
    let seed = seed.to_string();
    let mut args = vec![
        "simulate",
        "--size",
        size.name(),
        "--seed",
        &seed,
        "--out",
        s(out),
    ];
    args.extend(extra);
    tallylog(&args)
}

/// Every file under `dir` by its relative path: permission bits and SHA-256
/// (read in pieces: the cambodia events files are tens of megabytes).
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut h).unwrap();
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            out.insert(
                name,
                (
                    meta.permissions().mode() & 0o777,
                    tallylog_core::types::to_hex(&h.finalize()),
                ),
            );
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn participants(dir: &Path) -> Participants {
    serde_json::from_slice(&std::fs::read(dir.join(output::PARTICIPANTS)).unwrap()).unwrap()
}

#[test]
fn the_same_size_and_seed_give_the_same_directory_and_another_seed_another() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    ok(simulate(Size::Tiny, 3, &a, &[]));
    ok(simulate(Size::Tiny, 3, &b, &[]));
    ok(simulate(Size::Tiny, 4, &c, &[]));
    let (sa, sb, sc) = (snapshot(&a), snapshot(&b), snapshot(&c));
    assert_eq!(sa, sb);
    // Another seed: the same names (the same publishers), other bytes in
    // every file, keys included.
    assert_eq!(sa.keys().collect::<Vec<_>>(), sc.keys().collect::<Vec<_>>());
    for (name, (_, hash)) in &sa {
        assert_ne!(hash, &sc[name].1, "{name} is the same for seeds 3 and 4");
    }

    // Secret keys and their chain states are the owner's alone.
    let m = output::read_manifest(&a).unwrap();
    let who = participants(&a);
    let spec = Size::Tiny.spec();
    assert_eq!(m.spec, spec);
    assert_eq!(
        who.publishers.len() as u32,
        1 + spec.observers + spec.party_agents
    );
    for key in [&who.root.key_file, &who.log.key_file]
        .into_iter()
        .chain(who.publishers.iter().map(|p| &p.key_file))
    {
        assert_eq!(sa[key.as_str()].0, 0o600, "{key}");
    }
    for (name, (mode, _)) in &sa {
        if name.ends_with(".chain.json") {
            assert_eq!(*mode, 0o600, "{name}");
        }
    }
    // The manifest describes the events files as they are.
    assert_eq!(m.files.iter().map(|f| f.events).sum::<u64>(), m.events);
    assert_eq!(m.kinds.values().sum::<u64>(), m.events);
    for f in &m.files {
        assert_eq!(sa[f.file.as_str()].1, f.sha256.to_hex());
    }
}

#[test]
fn out_is_never_overwritten_nor_reached_by_a_path_trick() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    ok(simulate(Size::Tiny, 1, &a, &[]));
    let before = snapshot(&a);

    // A second run refuses, and leaves the first one as it was.
    refused(simulate(Size::Tiny, 2, &a, &[]), "is not empty");
    assert_eq!(snapshot(&a), before);
    // --force replaces an earlier simulation, with everything in it.
    std::fs::write(a.join("events-0001.jsonl.receipts.jsonl"), "stale\n").unwrap();
    ok(simulate(Size::Tiny, 1, &a, &["--force"]));
    assert_eq!(snapshot(&a), before);
    // ...but nothing else, and leaves no temporary directory behind.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    refused(
        simulate(Size::Tiny, 1, &other, &["--force"]),
        "holds no earlier simulation",
    );
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );
    let names: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["a", "other"].map(str::to_owned).into());

    // An empty directory is fine, and so is a new one under new parents.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(simulate(Size::Tiny, 1, &empty, &[]));
    assert_eq!(snapshot(&empty), before);
    ok(simulate(Size::Tiny, 1, &dir.path().join("x/y/z"), &[]));

    // Path tricks.
    refused(
        simulate(Size::Tiny, 1, &dir.path().join("x/../b"), &[]),
        "without `..`",
    );
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&empty, &link).unwrap();
    refused(
        simulate(Size::Tiny, 1, &link, &["--force"]),
        "symbolic link",
    );
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    refused(simulate(Size::Tiny, 1, &dangling, &[]), "symbolic link");
    assert!(!dir.path().join("nowhere").exists());
    refused(
        simulate(Size::Tiny, 1, &other.join("notes.txt"), &["--force"]),
        "not a directory",
    );
    refused(simulate(Size::Tiny, 1, Path::new("."), &[]), "not `.`");
    // And flags that do not go together.
    assert_eq!(
        tallylog(&["simulate", "--size", "tiny", "--live"])
            .status
            .code(),
        Some(2)
    );
    refused(
        tallylog(&["simulate", "--size", "india", "--out", s(&other)]),
        "tiny, cambodia, nigeria or indonesia",
    );
}

#[test]
fn certify_signs_what_a_status_says_and_refuses_what_is_not_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(simulate(Size::Tiny, 1, &sim, &[]));
    let m = output::read_manifest(&sim).unwrap();
    let key = sim.join("keys/authority.key");
    let chain = || -> Value {
        serde_json::from_slice(&std::fs::read(sim.join("keys/authority.key.chain.json")).unwrap())
            .unwrap()
    };
    let before = chain()[m.election.as_str()]["seq"].as_u64().unwrap();
    let status = dir.path().join("status.json");
    let projection = "ab".repeat(32);
    let certify = |extra: &[&str]| {
        let mut args = vec!["event", "certify", "--key", s(&key), "--status", s(&status)];
        args.extend(extra);
        tallylog(&args)
    };

    std::fs::write(&status, "not json").unwrap();
    refused(
        certify(&[]),
        "is not the output of `tallylog tally status --json`",
    );
    std::fs::write(
        &status,
        format!(
            r#"{{"size":9,"answer":{{"election":{{"id":"other"}},"projection":"{projection}"}}}}"#
        ),
    )
    .unwrap();
    refused(
        certify(&["--election", m.election.as_str()]),
        "the status is of election other",
    );
    std::fs::write(
        &status,
        format!(
            r#"{{"size":{},"answer":{{"election":{{"id":"{}"}},"projection":"{projection}"}}}}"#,
            m.events, m.election
        ),
    )
    .unwrap();
    // Nothing refused moved the chain.
    assert_eq!(chain()[m.election.as_str()]["seq"], before);

    let line = ok(certify(&["--time", "2028-09-01T00:00:00Z"]));
    let ev = SignedEvent::decode(line.trim_end().as_bytes()).unwrap();
    let Payload::Certified(c) = &ev.body().payload else {
        panic!("not a certification: {line}")
    };
    assert_eq!((c.log_size, c.projection.to_hex()), (m.events, projection));
    assert_eq!(ev.body().seq.0, before + 1);
    assert_eq!(ev.body().election, m.election);
    assert_eq!(chain()[m.election.as_str()]["seq"], before + 1);
}

/// The cambodia size (about 111,000 events) takes some 15 s to generate in
/// an unoptimised build; the two runs go side by side on the two cores.
#[test]
fn the_cambodia_election_is_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let run = |out: &Path| {
        Command::new(BIN)
            .args(["simulate", "--size", "cambodia", "--seed", "1", "--out"])
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut x, mut y) = (run(&a), run(&b));
    assert!(x.wait().unwrap().success());
    assert!(y.wait().unwrap().success());
    assert_eq!(snapshot(&a), snapshot(&b));

    let m = output::read_manifest(&a).unwrap();
    let spec = Size::Cambodia.spec();
    assert_eq!(m.spec, spec);
    let kind = |k: &str| {
        m.kinds
            .iter()
            .find(|(kind, _)| kind.as_str() == k)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(kind("complaint_filed"), u64::from(spec.complaints));
    assert_eq!(kind("correction"), u64::from(spec.corrections()));
    assert_eq!(
        kind("key_register"),
        u64::from(1 + spec.observers + spec.party_agents)
    );
    // One official form per station, and observers' and agents' copies.
    assert!(kind("result") > u64::from(spec.stations));
    // More events than one file takes: submitted a file at a time.
    assert!(m.files.len() > 2);
    assert!(m.files.iter().all(|f| f.events <= output::EVENTS_PER_FILE));
}

// ---------------------------------------------------------------------------
// End to end

/// `tallylog up` on free ports (its own nats-server), stopped with SIGTERM
/// when dropped so that a failing test leaves no process behind.
struct Up {
    child: Child,
    url: String,
}

impl Up {
    fn start(data: &Path, m: &Manifest, log_key: &Path) -> Up {
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let mut child = Command::new(BIN)
            .args([
                "up",
                "--data",
                s(data),
                "--election",
                m.election.as_str(),
                "--origin",
                m.origin.as_str(),
                "--log-key",
                s(log_key),
                // Tests run side by side: the gateway on any free port.
                "--http",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        // `up` prints the NATS URL first. Its stdout stays open in `child`.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("nats: ")
            .unwrap_or_else(|| panic!("`up` said {line:?}"))
            .trim()
            .to_owned();
        Up { child, url }
    }

    /// SIGTERM, then the exit status (SIGKILL if it does not stop in time).
    fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.child.try_wait().unwrap() {
            return status;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Asks the projector until it has folded `size` entries; returns the status.
fn wait_for_size(url: &str, election: &str, size: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let out = tallylog(&[
            "tally",
            "--nats",
            url,
            "--election",
            election,
            "status",
            "--json",
        ]);
        if out.status.success() {
            last = serde_json::from_slice(&out.stdout).unwrap();
            if last["size"] == size {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the projector did not reach {size} entries: {last}");
}

/// What the forms in the events say, worked out here without the projector.
struct Forms {
    /// Each station's current official form (the latest of its result,
    /// correction and recount), and its first.
    official: HashMap<StationCode, ResultForm>,
    first_official: HashMap<StationCode, ResultForm>,
    /// Each observer organisation's copy of each station's form.
    copies: BTreeMap<String, HashMap<StationCode, ResultForm>>,
}

fn figures(f: &ResultForm) -> impl PartialEq + '_ {
    (f.registered, f.cast, f.valid, f.invalid, &f.votes)
}

fn read_forms(dir: &Path, m: &Manifest, who: &Participants) -> Forms {
    let authority = who.publishers[0].public_key;
    assert_eq!(who.publishers[0].role, Role::Authority);
    let observers: HashMap<PublicKey, String> = who
        .publishers
        .iter()
        .filter(|p| p.role == Role::Observer)
        .map(|p| (p.public_key, p.organisation.as_str().to_owned()))
        .collect();
    let mut forms = Forms {
        official: HashMap::new(),
        first_official: HashMap::new(),
        copies: observers
            .values()
            .map(|o| (o.clone(), HashMap::new()))
            .collect(),
    };
    for f in &m.files {
        for line in std::fs::read_to_string(dir.join(&f.file)).unwrap().lines() {
            let ev = SignedEvent::decode(line.as_bytes()).unwrap();
            let author = ev.body().author;
            let form = match &ev.body().payload {
                Payload::Result(form) => form,
                Payload::Correction(c) if author == authority => &c.form,
                Payload::Recount(r) if author == authority => &r.form,
                _ => continue,
            };
            if author == authority {
                forms
                    .first_official
                    .entry(form.station.clone())
                    .or_insert_with(|| form.clone());
                forms.official.insert(form.station.clone(), form.clone());
            } else if let Some(org) = observers.get(&author) {
                forms
                    .copies
                    .get_mut(org)
                    .unwrap()
                    .insert(form.station.clone(), form.clone());
            }
        }
    }
    forms
}

/// Checks each receipt `submit` kept against the log key the manifest names,
/// here, independently of `submit`; returns how many verified.
fn verify_receipts(dir: &Path, file: &str, m: &Manifest) -> u64 {
    let log = LogVerifier::new(m.origin.as_str(), m.log_key).unwrap();
    let events: HashMap<EventId, SignedEvent> = std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .map(|l| {
            let e = SignedEvent::decode(l.as_bytes()).unwrap();
            (e.id(), e)
        })
        .collect();
    let receipts = std::fs::read_to_string(dir.join(format!("{file}.receipts.jsonl"))).unwrap();
    let mut seen = BTreeSet::new();
    for line in receipts.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let id: EventId = v["id"].as_str().unwrap().parse().unwrap();
        let r = Receipt::decode(v["receipt"].as_str().unwrap()).unwrap();
        r.verify(&events[&id], &log).unwrap();
        assert_eq!(v["index"], r.index.0);
        assert!(seen.insert(id), "one receipt per event");
    }
    assert_eq!(
        seen.len(),
        events.len(),
        "a receipt for every event of {file}"
    );
    seen.len() as u64
}

#[test]
fn a_tiny_election_is_submitted_tallied_certified_exported_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(simulate(Size::Tiny, 5, &sim, &[]));
    let m = output::read_manifest(&sim).unwrap();
    let who = participants(&sim);
    let spec = Size::Tiny.spec();
    let election = m.election.as_str();
    let root = m.root_key.to_string();

    let data = dir.path().join("data");
    let mut up = Up::start(&data, &m, &sim.join(&who.log.key_file));
    let url = up.url.clone();

    // Every file in the manifest's order, in one run, receipts checked
    // against the root key's definition.
    let mut args = vec!["submit", "--nats", &url, "--root-key", &root];
    let files: Vec<PathBuf> = m.files.iter().map(|f| sim.join(&f.file)).collect();
    args.extend(files.iter().map(|p| s(p)));
    ok(tallylog(&args));
    for f in &m.files {
        assert_eq!(verify_receipts(&sim, &f.file, &m), f.events);
    }

    // The projector has it all: the spec's stations, complaints and
    // publishers, and every form version the events hold.
    let status = wait_for_size(&url, election, m.events);
    let kind = |k: &str| {
        m.kinds
            .iter()
            .find(|(kind, _)| kind.as_str() == k)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(status["answer"]["stations"], spec.stations);
    assert_eq!(status["answer"]["complaints"], spec.complaints);
    assert_eq!(
        status["answer"]["forms"],
        kind("result") + kind("correction") + kind("recount")
    );
    assert_eq!(
        status["answer"]["sources"].as_array().unwrap().len() as u32,
        1 + spec.observers + spec.party_agents
    );
    let tally = |args: &[&str]| -> Value {
        let mut all = vec!["tally", "--nats", &url, "--election", election, "--json"];
        all.extend(args);
        let v: Value = serde_json::from_str(&ok(tallylog(&all))).unwrap();
        v["answer"].clone()
    };

    // Coverage: the authority reports from every station; each observer
    // from the stations it holds copies of.
    let forms = read_forms(&sim, &m, &who);
    assert_eq!(forms.official.len() as u32, spec.stations);
    let national = tally(&["tallies"]);
    assert_eq!(national["rows"][0]["stations"], spec.stations);
    assert_eq!(national["rows"][0]["totals"]["stations"], spec.stations);
    for (org, copies) in &forms.copies {
        let t = tally(&["tallies", "--source", org]);
        assert_eq!(t["rows"][0]["totals"]["stations"], copies.len(), "{org}");
        assert!(!copies.is_empty() && copies.len() < forms.official.len());
    }

    // Mismatches: 7% of stations have an observer copy that differs from
    // the first official form...
    let disagreeing: BTreeSet<&StationCode> = forms
        .copies
        .values()
        .flatten()
        .filter(|(st, f)| figures(f) != figures(&forms.first_official[*st]))
        .map(|(st, _)| st)
        .collect();
    assert_eq!(disagreeing.len() as u32, spec.disagreeing_stations());
    // ...and the comparison with the current official forms (after
    // corrections and recounts) is the one worked out here, station by station.
    for (org, copies) in &forms.copies {
        let mismatched: BTreeSet<String> = copies
            .iter()
            .filter(|(st, f)| figures(f) != figures(&forms.official[*st]))
            .map(|(st, _)| st.as_str().to_owned())
            .collect();
        let cmp = tally(&["compare", "--with", org]);
        let overall = &cmp["overall"];
        assert_eq!(overall["mismatched"], mismatched.len(), "{org}: {cmp}");
        assert_eq!(overall["matched"], copies.len() - mismatched.len(), "{org}");
        assert_eq!(overall["only_a"], forms.official.len() - copies.len());
        assert_eq!(overall["only_b"], 0);
        let listed: BTreeSet<String> = cmp["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] == "mismatch")
            .map(|r| r["station"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, mismatched, "{org}");
    }

    // The authority certifies what the projector computed, with its key
    // from the directory, continuing its chain.
    let status_file = dir.path().join("status.json");
    std::fs::write(&status_file, serde_json::to_vec(&status).unwrap()).unwrap();
    let certify = sim.join("certify.jsonl");
    let time = output::certification_time(&m).to_string();
    ok(tallylog(&[
        "event",
        "certify",
        "--key",
        s(&sim.join(&who.publishers[0].key_file)),
        "--status",
        s(&status_file),
        "--time",
        &time,
        "--out",
        s(&certify),
    ]));
    ok(tallylog(&[
        "submit",
        "--nats",
        &url,
        "--root-key",
        &root,
        s(&certify),
    ]));
    let certified = wait_for_size(&url, election, m.events + 1);
    let c = &certified["answer"]["certifications"][0];
    assert_eq!(c["log_size"], m.events);
    assert_eq!(c["claimed"], status["answer"]["projection"]);
    assert_eq!(c["confirmed"], true, "{certified}");

    // Stopped, exported and audited from the bytes up against the root key.
    assert!(up.stop().success());
    let bundle = dir.path().join("bundle.jsonl");
    ok(tallylog(&[
        "export",
        "--log",
        s(&data),
        "--out",
        s(&bundle),
    ]));
    let report = dir.path().join("report.json");
    let said = ok(tallylog(&[
        "audit",
        s(&bundle),
        "--root-key",
        &root,
        "--report",
        s(&report),
        "--quiet",
    ]));
    assert!(
        said.contains(&format!("verified: {} entries", m.events + 1)),
        "{said}"
    );
    assert!(said.contains(", 1 certifications,"), "{said}");
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["verified"], true);
    assert_eq!(r["certifications"][0]["log_size"], m.events);
    assert_eq!(
        r["certifications"][0]["claimed"],
        status["answer"]["projection"]
    );
    assert_eq!(
        r["certifications"][0]["replayed"],
        status["answer"]["projection"]
    );
}

#[test]
fn a_tiny_election_published_live_is_accepted_with_verified_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(simulate(Size::Tiny, 6, &sim, &[]));
    let m = output::read_manifest(&sim).unwrap();
    let who = participants(&sim);
    let up = Up::start(&dir.path().join("data"), &m, &sim.join(&who.log.key_file));

    let out = ok(tallylog(&[
        "simulate", "--size", "tiny", "--seed", "6", "--live", "--nats", &up.url, "--rate", "400",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["election"], m.election.as_str());
    assert_eq!(report["sent"], m.events);
    assert_eq!(report["accepted"], m.events, "{report}");
    assert_eq!(report["rejected"], serde_json::json!({}));
    assert_eq!(
        (report["bad_receipts"].clone(), report["failed"].clone()),
        (0.into(), 0.into())
    );
    let l = &report["latency_ms"];
    let at = |p: &str| l[p].as_f64().unwrap();
    assert!(at("p50") <= at("p90") && at("p90") <= at("p99") && at("p99") <= at("max"));
    assert!(at("max") > 0.0);
    // The log holds the whole election: the projector folds every event.
    wait_for_size(&up.url, m.election.as_str(), m.events);
}
