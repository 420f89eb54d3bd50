//! Card segments and derived PINs through the CLI (docs/cards.md): a department's segment, a
//! PIN handed out for a card, the yearly salt rotation with its renewal window; refusals change
//! nothing, and the database holds no PIN and no PIN hash.

use super::support::Env;

fn pin(env: &Env, segment: &str, idm: &str) -> String {
    env.ok(&["pin", "issue", "--segment", segment, "--idm", idm])
        .trim()
        .to_string()
}

#[test]
fn a_segment_hands_out_pins_rotates_its_salt_and_stores_no_pin() {
    let (env, _) = Env::with_ca();
    env.ok(&["segment", "create", "physics", "--digits", "10"]);
    env.ok(&["segment", "create", "chemistry", "--digits", "10"]);
    let card = "01:23:45:67:89:ab:cd:ef";
    let first = pin(&env, "physics", card);
    assert_eq!(first.len(), 10, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_digit()), "{first}");
    assert_eq!(
        pin(&env, "physics", "0123456789ABCDEF"),
        first,
        "however the IDm is typed"
    );
    assert_ne!(
        pin(&env, "physics", "0123456789abcdee"),
        first,
        "another card"
    );
    let other_segment = pin(&env, "chemistry", card);
    assert_ne!(other_segment, first, "another segment");

    // Refused, and nothing written.
    let audit = || env.ok(&["audit", "verify"]);
    let before = audit();
    for (args, why) in [
        (vec!["segment", "create", "physics"], "a taken name"),
        (vec!["segment", "create", "bad name"], "a bad name"),
        (vec!["segment", "create", "x", "--digits", "5"], "5 digits"),
        (
            vec!["segment", "create", "x", "--lifetime", "1d"],
            "a day's salt",
        ),
        (
            vec!["segment", "rotate", "physics", "--window", "3d"],
            "a 3-day window",
        ),
        (
            vec!["segment", "rotate", "physics", "--window", "60d"],
            "a 60-day window",
        ),
        (vec!["segment", "rotate", "nope"], "an unknown segment"),
        (
            vec!["pin", "issue", "--segment", "nope", "--idm", card],
            "an unknown segment",
        ),
        (
            vec!["pin", "issue", "--segment", "physics", "--idm", "0123"],
            "a short IDm",
        ),
        (
            vec![
                "pin",
                "issue",
                "--segment",
                "physics",
                "--idm",
                card,
                "--system-code",
                "zz",
            ],
            "a bad system code",
        ),
    ] {
        let out = env.run(&args);
        assert!(!out.status.success(), "{why}");
        assert!(!out.stderr.is_empty(), "{why}: says why");
    }
    assert_eq!(audit(), before, "refusals write nothing");

    // A lost card: revoked, it gets no PIN (once; other cards unaffected).
    env.ok(&[
        "segment",
        "revoke-card",
        "physics",
        "--idm",
        "0123456789abcdee",
        "--reason",
        "lost",
    ]);
    let again = env.ok(&[
        "segment",
        "revoke-card",
        "physics",
        "--idm",
        "0123456789abcdee",
    ]);
    assert!(again.contains("already"), "{again}");
    let refused = env.run(&[
        "pin",
        "issue",
        "--segment",
        "physics",
        "--idm",
        "0123456789abcdee",
    ]);
    assert!(!refused.status.success(), "a revoked card gets no PIN");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("revoked"));
    assert_eq!(
        pin(&env, "chemistry", "0123456789abcdee").len(),
        10,
        "in its own segment only"
    );
    let bad = env.run(&[
        "segment",
        "revoke-card",
        "physics",
        "--idm",
        card,
        "--reason",
        "a b",
    ]);
    assert!(!bad.status.success(), "a bad reason");

    // The yearly rotation: a new PIN from now on; the old one stays accepted in the window.
    let rotated = env.ok(&["segment", "rotate", "physics", "--window", "21d"]);
    assert!(rotated.contains("salt generation 2"), "{rotated}");
    let second = pin(&env, "physics", card);
    assert_ne!(second, first);
    assert_eq!(
        pin(&env, "chemistry", card),
        other_segment,
        "other segments unchanged"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["segment", "list", "physics", "--json"])).unwrap();
    let generations = listed["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 2, "{listed}");
    let window = generations[0]["valid_until"].as_i64().unwrap()
        - generations[1]["valid_from"].as_i64().unwrap();
    assert_eq!(
        window,
        21 * 86_400,
        "the old PIN stays for the window: {listed}"
    );
    assert!(
        listed["revoked_cards"].as_array().unwrap().is_empty(),
        "the rotation cleared the revoked cards: {listed}"
    );
    assert_eq!(
        pin(&env, "physics", "0123456789abcdee").len(),
        10,
        "a PIN again"
    );
    let again = env.run(&["segment", "rotate", "physics"]);
    assert!(!again.status.success(), "not during a renewal window");

    // No PIN and no PIN hash anywhere in the database file (10-digit PINs: no coincidence).
    // (The database and its write-ahead log, where the latest writes may still be.)
    let mut db = std::fs::read(env.data.join("inkan.db")).unwrap();
    db.extend(std::fs::read(env.data.join("inkan.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&db);
    for p in [&first, &second, &other_segment] {
        assert!(!text.contains(p.as_str()), "PIN {p} in the database");
        let hash = inkan_pki::sha256_hex(p.as_bytes());
        assert!(!text.contains(&hash), "PIN hash in the database");
    }
    // The audit log records each PIN handed out, by card: never the PIN.
    assert!(text.contains("pin.issued"));
    assert!(text.contains("0123456789abcdef"));
    assert!(audit().contains("intact"));
}
