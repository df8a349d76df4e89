#!/usr/bin/env python3
"""Independent verifier for the tallylog golden vectors.

Written from docs/PROTOCOL.md and testdata/ alone (never from the Rust code), using only the
Python standard library, to show that the specification is sufficient to check every byte.
Exit status 0 means every check passed; 1 means one failed, and the message names it.
"""
import base64
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
VECTORS = TESTDATA / "vectors"


class Bad(Exception):
    """A check failed; the message names what."""


def ok(msg):
    print(f"ok   {msg}")


def require(cond, msg):
    if not cond:
        raise Bad(msg)


def sha256(b):
    return hashlib.sha256(b).digest()


def unhex(s, nbytes, what):
    # §1: lowercase hex only, exact length ("one value, one spelling").
    require(isinstance(s, str) and len(s) == 2 * nbytes and all(c in "0123456789abcdef" for c in s),
            f"{what}: not {2 * nbytes} lowercase hex digits")
    return bytes.fromhex(s)


# ---------------------------------------------------------------------------------------------
# Ed25519 (RFC 8032 §5.1) with the strict verification rules of PROTOCOL.md §2.
# Points are extended homogeneous coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def pt_add(p, q):  # RFC 8032 §5.1.4, complete addition formula
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pt_mul(s, p):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = pt_add(q, p)
        p = pt_add(p, p)
        s >>= 1
    return q


def pt_is_identity(p):
    return p[0] % P == 0 and (p[1] - p[2]) % P == 0


def pt_encode(p):
    zinv = pow(p[2], P - 2, P)
    x, y = p[0] * zinv % P, p[1] * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def pt_decode(b):
    """RFC 8032 §5.1.3 decoding; None if the bytes are not a point (incl. y >= p, "-0")."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * SQRT_M1 % P
    if (x * x - xx) % P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = pt_decode(bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666"))


def small_order(p):  # order divides 8 <=> [8]P is the identity
    return pt_is_identity(pt_mul(8, p))


def ed25519_public(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return pt_encode(pt_mul(a, BASE))


def ed25519_sign(seed, msg):  # RFC 8032 §5.1.6; used only to show signatures are deterministic
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    pub = pt_encode(pt_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % L
    R = pt_encode(pt_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(R + pub + msg).digest(), "little") % L
    return R + ((r + k * a) % L).to_bytes(32, "little")


def valid_public_key(pub):
    """§2: decodes to a point and is that point's canonical encoding."""
    A = pt_decode(pub)
    return A is not None and pt_encode(A) == pub


def verify_strict(pub, msg, sig):
    if len(pub) != 32 or len(sig) != 64 or not valid_public_key(pub):
        return False
    S = int.from_bytes(sig[32:], "little")
    if S >= L:                                   # rule 1: canonical S
        return False
    A, R = pt_decode(pub), pt_decode(sig[:32])
    if R is None or small_order(R) or small_order(A):  # rule 2
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    neg_kA = pt_mul(k, (P - A[0], A[1], A[2], P - A[3]))
    return pt_encode(pt_add(pt_mul(S, BASE), neg_kA)) == sig[:32]  # rule 3: cofactorless, bytes


# ---------------------------------------------------------------------------------------------
# Strict JSON reading and JCS (RFC 8785) writing for the restricted JSON of §1.
SAFE = 2**53 - 1


def _no_floats(s):
    raise Bad(f"inexact_number: {s}")


def _pairs(pairs):
    names = [k for k, _ in pairs]
    require(len(names) == len(set(names)), f"duplicate_key: {names}")
    return dict(pairs)


def _int(s):
    n = int(s)
    require(-SAFE <= n <= SAFE, f"inexact_number: {s}")
    return n


def _check_surrogates(v):
    if isinstance(v, str):
        require(not any(0xD800 <= ord(c) <= 0xDFFF for c in v), "malformed_json: lone surrogate")
    elif isinstance(v, list):
        for x in v:
            _check_surrogates(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_surrogates(k)
            _check_surrogates(x)


def parse_strict(b):
    try:
        text = b.decode("utf-8")  # strict: invalid UTF-8 raises
        v = json.loads(text, object_pairs_hook=_pairs, parse_int=_int,
                       parse_float=_no_floats, parse_constant=_no_floats)
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise Bad(f"malformed_json: {e}")
    _check_surrogates(v)
    return v


SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def jcs_str(s):
    out = []
    for c in s:
        if c in SHORT:
            out.append(SHORT[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)  # everything else, including non-ASCII, as itself
    return '"' + "".join(out) + '"'


def jcs(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return jcs_str(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):  # members sorted by UTF-16 code units (UTF-16BE bytes sort the same)
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs_str(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise Bad(f"unexpected JSON value {v!r}")


def jcs_bytes(v):
    return jcs(v).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# RFC 6962 Merkle tree: hashing, proof generation (§2.1.1/§2.1.2) and verification (RFC 9162).
def leaf_hash(d):
    return sha256(b"\x00" + d)


def node_hash(l, r):
    return sha256(b"\x01" + l + r)


def split(n):  # the largest power of two < n
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):  # leaves are already leaf hashes
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def rfc_path(m, leaves):  # RFC 6962 §2.1.1 PATH(m, D[n])
    if len(leaves) <= 1:
        return []
    k = split(len(leaves))
    if m < k:
        return rfc_path(m, leaves[:k]) + [mth(leaves[k:])]
    return rfc_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def rfc_subproof(m, leaves, b):  # RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return rfc_subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return rfc_subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def verify_inclusion(index, size, leaf, proof, root):  # RFC 9162 §2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(m, n, proof, old_root, new_root):  # RFC 9162 §2.1.4.2, plus §5 edge cases
    if m > n:
        return False
    if m == 0 or m == n:  # §5: empty proof; from 0 valid for any tree, from n to n roots agree
        return not proof and (m == 0 or old_root == new_root)
    if not proof:
        return False
    if m & (m - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        proof = [old_root] + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


def flipped(b, i, bit=1):
    return b[:i] + bytes([b[i] ^ bit]) + b[i + 1:]


def check_proofs(name, leaves, roots, inclusion, consistency):
    """Verify given proofs, compare them with RFC 6962's definitions, and show a flip fails."""
    for t in inclusion:
        i, n, proof = t["index"], t["size"], [unhex(h, 32, "proof") for h in t["proof"]]
        require(verify_inclusion(i, n, leaves[i], proof, roots[n]), f"{name}: inclusion {i}@{n}")
        require(proof == rfc_path(i, leaves[:n]), f"{name}: inclusion {i}@{n} not RFC 6962 order")
        for j in range(len(proof)):
            bad = proof[:j] + [flipped(proof[j], 16)] + proof[j + 1:]
            require(not verify_inclusion(i, n, leaves[i], bad, roots[n]),
                    f"{name}: inclusion {i}@{n} accepted a flipped byte in element {j}")
    for t in consistency:
        m, n, proof = t["old"], t["new"], [unhex(h, 32, "proof") for h in t["proof"]]
        require(verify_consistency(m, n, proof, roots[m], roots[n]), f"{name}: consistency {m}->{n}")
        require(proof == rfc_subproof(m, leaves[:n], True), f"{name}: consistency {m}->{n} order")
        for j in range(len(proof)):
            bad = proof[:j] + [flipped(proof[j], 16)] + proof[j + 1:]
            require(not verify_consistency(m, n, bad, roots[m], roots[n]),
                    f"{name}: consistency {m}->{n} accepted a flipped byte in element {j}")
    ok(f"{name}: {len(inclusion)} inclusion and {len(consistency)} consistency proofs verify, "
       "match RFC 6962 order, and every flipped element is refused")


# ---------------------------------------------------------------------------------------------
# tallylog events (§3) and entries (§4).
EVENT_PREFIX = b"tallylog/event/v1\n"
KINDS = {"election", "geography", "key_register", "key_revoke", "key_rotate", "result",
         "correction", "recount", "complaint_filed", "complaint_acknowledged", "complaint_review",
         "complaint_resolved", "complaint_appealed", "complaint_appeal_decided", "certified",
         "attestation"}
BODY_REQUIRED = {"v", "kind", "election", "author", "seq", "time", "data"}


def check_event(line):
    """Decode a signed event strictly (§3.3) and verify it; returns (body, id)."""
    require(len(line) <= 65536, "too_large")
    ev = parse_strict(line)
    require(isinstance(ev, dict) and set(ev) == {"body", "sig"}, "envelope members")
    body = ev["body"]
    require(isinstance(body, dict), "body is not an object")
    require(BODY_REQUIRED <= set(body) <= BODY_REQUIRED | {"prev"}, f"body members {sorted(body)}")
    require(body["v"] == 1 and type(body["v"]) is int, "unsupported_version")
    require(body["kind"] in KINDS, f"unknown kind {body['kind']!r}")
    require(isinstance(body["data"], dict), "data is not an object")
    author = unhex(body["author"], 32, "author")
    sig = unhex(ev["sig"], 64, "sig")
    body_bytes = jcs_bytes(body)
    # §3.3: the canonical bytes are exactly {"body": || body_bytes || ,"sig":" || hex || "}
    require(line == jcs_bytes(ev) == b'{"body":' + body_bytes + b',"sig":"' + ev["sig"].encode()
            + b'"}', "non_canonical")
    seq = body["seq"]
    require(type(seq) is int and seq >= 1, "bad_seq")
    require(("prev" in body) == (seq > 1), "bad_prev")
    if "prev" in body:
        unhex(body["prev"], 32, "prev")
    preimage = EVENT_PREFIX + body_bytes
    require(verify_strict(author, preimage, sig), "bad_signature")
    return body, sha256(preimage), len(body_bytes)


def check_entry(i, line, prev_chain):
    """Decode entry i (§4) and check its index, prev link and event; returns the event bytes."""
    require(len(line) <= 65664, "entry too_large")
    en = parse_strict(line)
    require(isinstance(en, dict) and set(en) == {"event", "index", "prev"}, "entry members")
    require(type(en["index"]) is int and en["index"] == i, f"index {en['index']} != {i}")
    require(unhex(en["prev"], 32, "prev") == prev_chain, "prev is not the previous chain hash")
    event = jcs_bytes(en["event"])
    require(line == b'{"event":' + event + b',"index":' + str(i).encode() + b',"prev":"'
            + prev_chain.hex().encode() + b'"}', "entry non_canonical")
    check_event(event)
    return event


def audit(entries, start=0, prev=bytes(32)):
    """Walk the chain; return (first bad index, reason) or None if every entry is good."""
    for i in range(start, len(entries)):
        try:
            check_entry(i, entries[i], prev)
        except Bad as e:
            return i, str(e)
        prev = leaf_hash(entries[i])
    return None


def read_lines(path):
    data = path.read_bytes()
    require(data.endswith(b"\n"), f"{path.name}: last line not terminated")
    return data[:-1].split(b"\n")


# ---------------------------------------------------------------------------------------------
# The checks the brief asks for.
def check_rfc8032():
    vs = json.loads((TESTDATA / "rfc8032.json").read_text())["vectors"]
    for n, v in enumerate(vs, 1):
        seed, pub, msg, sig = (bytes.fromhex(v[k]) for k in ("secret", "public", "message", "signature"))
        require(ed25519_public(seed) == pub, f"RFC 8032 TEST {n}: public key derivation")
        require(ed25519_sign(seed, msg) == sig, f"RFC 8032 TEST {n}: signing")
        require(verify_strict(pub, msg, sig), f"RFC 8032 TEST {n}: signature rejected")
        other_msg = flipped(msg, 0) if msg else b"\x00"  # TEST 1 signs the empty message
        for what, (p, m, s) in {"R": (pub, msg, flipped(sig, 5)), "S": (pub, msg, flipped(sig, 40)),
                                "key": (flipped(pub, 3), msg, sig),
                                "message": (pub, other_msg, sig)}.items():
            require(not verify_strict(p, m, s), f"RFC 8032 TEST {n}: flipped {what} accepted")
    # §2 strictness on constructed inputs: S + L (non-canonical S), small-order R and key.
    seed, pub, msg, sig = (bytes.fromhex(vs[0][k]) for k in ("secret", "public", "message", "signature"))
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    require(not verify_strict(pub, msg, sig[:32] + s_plus_l), "S + L accepted")
    ident = (1).to_bytes(32, "little")  # the identity point, order 1
    require(not verify_strict(pub, msg, ident + sig[32:]), "small-order R accepted")
    # Under the identity key, R = [s]B with S = s satisfies the cofactorless equation for any
    # message; only rule 2 (A not of small order) refuses it.
    forged = pt_encode(pt_mul(7, BASE)) + (7).to_bytes(32, "little")
    require(not verify_strict(ident, msg, forged), "signature under a small-order key accepted")
    require(not valid_public_key((1 | 1 << 255).to_bytes(32, "little")), "'-0' key accepted")
    ok(f"RFC 8032: {len(vs)} vectors derive, sign and verify; flipped bits and §2 edge cases refused")


def check_rfc6962():
    t = json.loads((TESTDATA / "rfc6962.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in t["leaves"]]
    roots = [unhex(h, 32, "root") for h in t["roots"]]
    for n in range(len(roots)):
        require(mth(leaves[:n]) == roots[n], f"RFC 6962 root of size {n}")
    ok(f"RFC 6962: roots of sizes 0-{len(roots) - 1} recomputed from the leaves")
    check_proofs("RFC 6962", leaves, roots, t["inclusion"], t["consistency"])


def check_log_vectors():
    events = read_lines(VECTORS / "events.jsonl")
    meta = json.loads((VECTORS / "events.json").read_text())
    entries = read_lines(VECTORS / "entries.jsonl")
    log = json.loads((VECTORS / "log.json").read_text())
    require(len(events) == len(meta) == len(entries) == len(log["chain_hashes"]), "counts")
    bodies = []
    for i, (line, m) in enumerate(zip(events, meta)):
        try:
            body, eid, nbody = check_event(line)
        except Bad as e:
            raise Bad(f"event {i}: {e}")
        require(m["id"] == eid.hex(), f"event {i}: id {eid.hex()} != events.json {m['id']}")
        require(m["kind"] == body["kind"] and m["body_bytes"] == nbody, f"event {i}: kind/length")
        bodies.append((body, eid))
    ok(f"events.jsonl: {len(events)} events canonical (JCS), ids match events.json, signatures strict")

    prev = bytes(32)
    chain = []
    for i, line in enumerate(entries):
        try:
            event = check_entry(i, line, prev)
        except Bad as e:
            raise Bad(f"entry {i}: {e}")
        require(event == events[i], f"entry {i}: does not embed event line {i} byte for byte")
        prev = leaf_hash(line)
        require(prev.hex() == log["chain_hashes"][i], f"entry {i}: chain hash != log.json")
        chain.append(prev)
    ok(f"entries.jsonl: {len(entries)} entries embed their events, index and prev links correct, "
       "chain hashes match log.json")

    roots = [unhex(h, 32, "root") for h in log["roots"]]
    require(len(roots) == len(chain) + 1, "log.json root count")
    for n in range(len(roots)):
        require(mth(chain[:n]) == roots[n], f"log root of size {n}")
    ok(f"log.json: Merkle roots at every size 0-{len(chain)} recomputed")
    check_proofs("log.json", chain, roots, log["inclusion"], log["consistency"])

    # The worked example quoted in §12 must agree with the vectors.
    require(bodies[21][1].hex() == "f0683b298577bde129919cd0969d54170521228dcf6bcbe7fbbc6c9066b40741"
            and events[21].endswith(b'"sig":"f42021fb6ab6f95c1f05d756ed9a5cfc316a986451bd794e7c4c45'
                                    b'a5ff5071e08e28195f6380006d623433f73598c6c4fee53d8007b2bedee511'
                                    b'f2f162f0b409"}')
            and len(entries[21]) == 592
            and chain[21].hex() == "49c15c6984d13f55e06f5548265515ac27098eebc7e8e875a0d5829a83e7c354"
            and len(roots) == 29
            and roots[28].hex() == "ed00d48e4cdb2533bf7bb721bae81a56e07cc49111ea118d4ea8d64f527bc621",
            "§12 worked example disagrees with the vectors")
    ok("§12 worked example (id, signature, 592-byte entry 21, chain hash, root) matches the vectors")
    return events, entries, bodies, roots


def check_keys_and_signing(bodies, events):
    keys = {k["name"]: k for k in json.loads((VECTORS / "keys.json").read_text())["keys"]}
    for k in keys.values():
        # §12 writes SHA-256("tallylog test key " || n); n turns out to be ASCII decimal.
        seed = unhex(k["secret"], 32, "secret")
        require(seed == sha256(b"tallylog test key " + str(k["test_key"]).encode()), f"{k['name']} seed")
        require(ed25519_public(seed).hex() == k["public"], f"{k['name']}: public != derived key")
        require(valid_public_key(bytes.fromhex(k["public"])), f"{k['name']}: invalid key")
    by_public = {k["public"]: k for k in keys.values()}
    for i, (body, _) in enumerate(bodies):  # deterministic signatures: re-signing reproduces sig
        seed = bytes.fromhex(by_public[body["author"]]["secret"])
        sig = ed25519_sign(seed, EVENT_PREFIX + jcs_bytes(body))
        require(json.loads(events[i])["sig"] == sig.hex(), f"event {i}: re-signing differs")
    ok("keys.json: seeds = SHA-256(\"tallylog test key \" || decimal n), public keys derive; "
       "re-signing every event reproduces its signature")
    return keys


def check_checkpoint(keys, bodies, roots):
    kj = json.loads((VECTORS / "keys.json").read_text())
    origin, pub = kj["log_origin"], bytes.fromhex(keys["log"]["public"])
    election = bodies[0][0]["data"]["log"]
    require(election == {"origin": origin, "key": pub.hex()}, "election's log != keys.json log")
    key_id = sha256(origin.encode() + b"\n\x01" + pub)[:4]
    vkey_b64 = base64.b64encode(b"\x01" + pub).decode()
    vkey = f"{origin}+{key_id.hex()}+{vkey_b64}"
    require(kj["log_verifier_key"] == vkey, f"log_verifier_key != {vkey}")
    ok(f"keys.json: log_verifier_key matches §7 ({vkey})")

    text = (VECTORS / "checkpoint.txt").read_bytes().decode("utf-8")
    require("\n\n" in text and text.endswith("\n"), "checkpoint: not a signed note")
    cut = text.index("\n\n") + 1
    body, sig_lines = text[:cut], text[cut + 1:-1].split("\n")
    lines = body[:-1].split("\n")
    require(len(lines) == 3, f"checkpoint body has {len(lines)} lines, expected 3")
    require(lines[0] == origin, "checkpoint origin")
    require(lines[1] == str(int(lines[1])) and int(lines[1]) == len(roots) - 1, "checkpoint size")
    root = base64.b64decode(lines[2], validate=True)
    require(len(root) == 32 and base64.b64encode(root).decode() == lines[2], "checkpoint root encoding")
    require(root == roots[-1], "checkpoint root != last root in log.json")
    verified = 0
    for sl in sig_lines:
        require(sl.startswith("\u2014 "), f"signature line does not start with an em dash: {sl!r}")
        name, _, b64 = sl[2:].partition(" ")
        raw = base64.b64decode(b64, validate=True)
        require(len(raw) == 68 and base64.b64encode(raw).decode() == b64, "signature line encoding")
        if name != origin or raw[:4] != key_id:
            continue  # another signer (e.g. a witness): ignored by §7
        require(verify_strict(pub, body.encode("utf-8"), raw[4:]), "checkpoint signature")
        require(not verify_strict(pub, flipped(body.encode(), 1), raw[4:]), "flipped note accepted")
        verified += 1
    require(verified == 1, f"{verified} log signatures on the checkpoint, expected 1")
    ok(f"checkpoint.txt: key id {key_id.hex()} matches, signature verifies, size {lines[1]} and root match")


def check_publisher_chains(bodies):
    last = {}
    for i, (body, eid) in enumerate(bodies):
        seq, prev_id = last.get(body["author"], (0, None))
        require(body["seq"] == seq + 1, f"event {i}: seq {body['seq']} != {seq + 1}")
        require(body.get("prev") == (prev_id.hex() if prev_id else None), f"event {i}: prev link")
        last[body["author"]] = (body["seq"], eid)
    ok("publisher chains: " + ", ".join(f"{a[:8]}.. seq 1-{s}" for a, (s, _) in last.items()))


def check_tamper(entries):
    require(audit(entries) is None, "untampered log does not audit clean")
    mid = len(entries[7]) // 2
    tampered = entries[:7] + [flipped(entries[7], mid)] + entries[8:]
    result = audit(tampered)
    require(result is not None and result[0] in (7, 8), f"tampered entry 7 reported as {result}")
    ok(f"tamper: byte {mid} of entry 7 flipped -> first bad index {result[0]} ({result[1]})")
    # Also every single-byte flip of entry 7 (bit 0x01), audited from entry 7 on.
    prev7 = leaf_hash(entries[6])
    for j in range(len(entries[7])):
        r = audit(entries[:7] + [flipped(entries[7], j)] + entries[8:9], 7, prev7)
        require(r is not None and r[0] in (7, 8), f"flip of byte {j} of entry 7 not detected: {r}")
    ok(f"tamper: all {len(entries[7])} single-byte flips of entry 7 are reported at index 7 or 8")


def self_test_jcs():
    # The vectors are ASCII only, so exercise the escaping and UTF-16 ordering rules directly.
    require(jcs({"\U0001F600": 1, "\uFB33": 2, "a": 3}) == '{"a":3,"\U0001F600":1,"\uFB33":2}',
            "JCS: UTF-16 member order")
    require(jcs("\u0000\b\t\n\f\r\u001f\"\\/\u007f\u00e9") ==
            '"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\u007f\u00e9"', "JCS: string escaping")
    for bad in (b'{"a":1,"a":2}', b'{"a":1.0}', b'{"a":1e2}', b'{"a":9007199254740992}',
                b'"\\ud800"', b'{"a":1} x', b'"\xff"', b'NaN'):
        try:
            parse_strict(bad)
        except Bad:
            continue
        raise Bad(f"strict JSON accepted {bad!r}")
    ok("JCS self-test: UTF-16 ordering, escapes, and strict decoding refusals")


def check_projection(bodies):
    """PROTOCOL.md §13: the projection hash frames canonical records; and the
    national totals in them are recomputed here from the events alone."""
    raw = (VECTORS / "projection.jsonl").read_bytes()
    lines = raw.split(b"\n")
    require(lines[-1] == b"", "projection.jsonl ends with a newline")
    lines = lines[:-1]
    records = []
    for i, line in enumerate(lines):
        v = parse_strict(line)
        require(jcs_bytes(v) == line, f"projection record {i} is not canonical JSON")
        records.append(v)
    want = (VECTORS / "projection.txt").read_text().strip()
    got = sha256(b"tallylog/projection/v1\n" + raw).hex()
    require(got == want, f"projection hash {got} != projection.txt {want}")
    require(records[0] == {"record": "log", "election": bodies[0][0]["election"], "size": len(bodies)},
            "the first record names the election and the log size")

    # An independent fold of the national totals per source.
    sources, stations, contests, superseded, forms = {}, set(), set(), set(), []
    for body, eid in bodies:
        kind, data = body["kind"], body["data"]
        if kind == "election":
            contests = {c["id"] for c in data["contests"]}
        elif kind == "geography":
            stations |= {st["code"] for st in data.get("stations", [])}
        elif kind == "key_register":
            sources[data["key"]] = (data["role"], data["org"])
        elif kind == "key_rotate":
            sources[data["new"]] = sources[data["old"]]
        elif kind in ("result", "correction", "recount"):
            form = data if kind == "result" else data["form"]
            if kind != "result":
                superseded.add(data["supersedes"])
            forms.append((eid.hex(), sources[body["author"]], form))
    current = {}
    for eid, src, form in forms:
        if eid not in superseded:
            current[(src, form["station"], form["contest"])] = form
    totals = {}
    for (src, station, contest), f in current.items():
        figures = [f["registered"], f["cast"], f["valid"], f["invalid"], *f["votes"].values()]
        if station not in stations or contest not in contests or max(figures) > 10_000_000:
            continue
        t = totals.setdefault((contest, src), {"stations": 0, "registered": 0, "cast": 0,
                                               "valid": 0, "invalid": 0, "votes": {}})
        t["stations"] += 1
        for k in ("registered", "cast", "valid", "invalid"):
            t[k] += f[k]
        for party, n in f["votes"].items():
            if n:
                t["votes"][party] = t["votes"].get(party, 0) + n
    national = {(r["contest"], (r["source"]["role"], r["source"]["org"])):
                {k: r[k] for k in ("stations", "registered", "cast", "valid", "invalid", "votes")}
                for r in records if r["record"] == "total" and r["region"] == ""}
    require(national == totals, f"national totals differ from an independent fold:\n{national}\n{totals}")
    ok(f"projection: {len(records)} canonical records hash to projection.txt; national totals of "
       f"{len(totals)} sources recomputed from the events match")


def main():
    try:
        check_rfc8032()
        check_rfc6962()
        self_test_jcs()
        events, entries, bodies, roots = check_log_vectors()
        keys = check_keys_and_signing(bodies, events)
        check_checkpoint(keys, bodies, roots)
        check_publisher_chains(bodies)
        check_tamper(entries)
        check_projection(bodies)
    except Bad as e:
        print(f"FAIL {e}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
