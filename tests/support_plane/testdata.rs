//! Helpers for comparing the fake with the example bodies in shared/testdata/plane/.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/plane/");

pub fn testdata(name: &str) -> String {
    std::fs::read_to_string(format!("{TESTDATA}{name}")).expect("shared/testdata/plane")
}

/// Top-level keys of a JSON object, in document order (serde_json's map would sort them).
pub struct Keys(pub Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

pub fn keys(json: &str) -> Vec<String> {
    serde_json::from_str::<Keys>(json).unwrap().0
}

pub fn raw_get(
    fake: &super::FakePlane,
    rel: &str,
    key: Option<&str>,
) -> reqwest::blocking::Response {
    let mut req = reqwest::blocking::Client::new().get(format!("{}{rel}", fake.project_url()));
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    req.send().unwrap()
}

/// End of the JSON object starting at `start` (depth count; the fixture has no braces in
/// strings that matter here because names are plain).
pub fn find_object_end(text: &str, start: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return start + i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}
