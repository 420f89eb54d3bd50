use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<PageLimit>,
    #[serde(default)]
    since: Option<FeedPosition>,
}

fn parse(query: &str) -> Result<Page, String> {
    let uri: axum::http::Uri = format!("/v1/x?{query}").parse().unwrap();
    Query::<Page>::try_from_uri(&uri)
        .map(|Query(p)| p)
        .map_err(|e| e.body_text())
}

#[test]
fn limits_within_the_bounds_are_taken() {
    assert_eq!(parse("limit=1").unwrap().limit.unwrap().get(), 1);
    assert_eq!(parse("limit=1000").unwrap().limit.unwrap().get(), MAX_PAGE);
    assert!(parse("").unwrap().limit.is_none());
    assert_eq!(parse("since=0").unwrap().since.unwrap().get(), 0);
    assert_eq!(
        parse("since=9223372036854775807")
            .unwrap()
            .since
            .unwrap()
            .get(),
        i64::MAX
    );
}

#[test]
fn limits_outside_the_bounds_are_refused_by_name() {
    for (query, why) in [
        ("limit=0", "must be from 1 to 1000, not 0"),
        ("limit=1001", "must be from 1 to 1000, not 1001"),
        ("limit=1000000", "must be from 1 to 1000, not 1000000"),
        ("limit=-5", "must be from 1 to 1000, not -5"),
        ("since=-1", "must be at least 0, not -1"),
        ("limit=ten", "invalid digit"),
        ("limit=99999999999999999999", "number too large"),
    ] {
        let error = parse(query).unwrap_err();
        let name = query.split('=').next().unwrap();
        assert!(error.contains(name), "{query}: {error}");
        assert!(error.contains(why), "{query}: {error}");
    }
    assert!(parse("limits=5").unwrap_err().contains("unknown field"));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    #[serde(default, deserialize_with = "cursor")]
    after: Option<PageCursor>,
}

fn parse_listing(query: &str) -> Result<Listing, String> {
    let uri: axum::http::Uri = format!("/v1/x?{query}").parse().unwrap();
    Query::<Listing>::try_from_uri(&uri)
        .map(|Query(l)| l)
        .map_err(|e| e.body_text())
}

#[test]
fn cursors_are_taken_only_as_the_server_wrote_them() {
    assert!(parse_listing("").unwrap().after.is_none());
    // base64url of "1700000000000:7019bdd602a09ec1"
    let text = "MTcwMDAwMDAwMDAwMDo3MDE5YmRkNjAyYTA5ZWMx";
    let cursor = parse_listing(&format!("after={text}"))
        .unwrap()
        .after
        .unwrap();
    assert_eq!(cursor.position().created_at_ms, 1_700_000_000_000);
    assert_eq!(cursor.position().id, "7019bdd602a09ec1");
    assert_eq!(cursor.to_string(), text);
    for bad in [
        "after=",
        "after=x",
        "after=%00",
        "after=MTIzNA",
        &format!("after={text}="),
    ] {
        let error = parse_listing(bad).unwrap_err();
        assert!(error.contains("after"), "{bad}: {error}");
        assert!(error.contains("not a device list cursor"), "{bad}: {error}");
    }
}
