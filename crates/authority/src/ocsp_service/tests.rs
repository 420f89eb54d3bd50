use super::*;

fn cache(capacity: usize) -> Cache {
    Cache {
        current: HashMap::new(),
        previous: HashMap::new(),
        capacity,
    }
}

fn put(cache: &mut Cache, serial: &str) {
    cache.entry(serial).insert(
        serial.as_bytes().to_vec(),
        Cached {
            der: Bytes::from(serial.to_string()),
            refresh_at: 1,
        },
    );
}

#[test]
fn the_cache_keeps_recently_asked_certificates_and_never_more_than_its_capacity() {
    let mut c = cache(4);
    for serial in ["a", "b", "c"] {
        put(&mut c, serial);
    }
    // "a" and "b" aged into the previous generation; asking for "a" brings it back.
    assert!(c.fresh("a", b"a", 0).is_some());
    put(&mut c, "d");
    put(&mut c, "e");
    assert!(
        c.fresh("b", b"b", 0).is_none(),
        "b was not asked for and aged out"
    );
    assert!(c.fresh("a", b"a", 0).is_some() && c.fresh("e", b"e", 0).is_some());
    // Past its refresh time, or for another CertID, a kept response is not served.
    assert!(c.fresh("e", b"e", 1).is_none() && c.fresh("e", b"x", 0).is_none());
    for i in 0..1000 {
        put(&mut c, &i.to_string());
        assert!(c.len() <= 4);
    }
}

#[test]
fn an_invalidated_certificate_is_gone_from_both_generations() {
    let mut c = cache(4);
    for serial in ["a", "b", "c"] {
        put(&mut c, serial);
    }
    c.remove("a");
    c.remove("c");
    assert!(c.fresh("a", b"a", 0).is_none() && c.fresh("c", b"c", 0).is_none());
    assert!(c.fresh("b", b"b", 0).is_some());
}
