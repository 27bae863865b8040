//! What a config file may be before it is trusted to the YAML parser: a regular file of at
//! most [`MAX_BYTES`], flow collections nested at most [`MAX_FLOW_DEPTH`] deep, and no key
//! given twice in one mapping (YAML would silently keep the last one).

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::load::ConfigError;
use super::locate::locate;

/// A config is a few KiB; anything near this is not one.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// `[`/`{` nesting. The parser's scanner is quadratic in it (a 200 KB file of `[` took
/// 26 s to reject), and no config needs more than a handful.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Reads the file, refusing what is not a regular file (a FIFO would block, `/dev/zero`
/// never end) and what is larger than [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let fail = |message: String| ConfigError::file(path, message);
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| fail(format!("cannot read config: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read config: {e}")))?;
    if !meta.is_file() {
        let kind = file_kind(&meta.file_type());
        return Err(fail(format!(
            "the config must be a regular file, this is {kind}; point --config or OPERATIONS_CENTER_CONFIG at a YAML file"
        )));
    }
    let mut bytes = Vec::new();
    // One byte more than allowed tells "too large" apart from "exactly at the cap", also
    // for a file that grows while it is read.
    file.by_ref()
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read config: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(fail(format!(
            "the config is larger than {} KiB ({} bytes on disk); a config is a few KiB — is this the right file?",
            MAX_BYTES / 1024,
            meta.len()
        )));
    }
    String::from_utf8(bytes).map_err(|e| fail(format!("the config is not UTF-8 text: {e}")))
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The 1-based (line, column) of the first `[` or `{` nested deeper than [`MAX_FLOW_DEPTH`],
/// if any. Skips comments and quoted scalars; brackets inside plain scalars count, which
/// errs on the safe side (a real config never comes near the limit).
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (number, line) in text.lines().enumerate() {
        let mut previous = ' ';
        let mut chars = line.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('\'') if c == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                    chars.next();
                }
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous.is_whitespace() => break,
                    '"' | '\'' if previous.is_whitespace() || "[{,:-".contains(previous) => {
                        quote = Some(c)
                    }
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some((number + 1, line[..index].chars().count() + 1));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            previous = c;
        }
    }
    None
}

/// Rejects a key given twice in one mapping, at any depth, naming both places. Runs over the
/// text before the typed parse, where a repeated `repos.demo` would silently win.
pub fn check_duplicate_keys(text: &str, path: &Path) -> Result<(), ConfigError> {
    let Err(e) = yaml_serde::from_str::<Any>(text) else {
        return Ok(());
    };
    let message = e.to_string();
    let Some(index) = message.find(DUPLICATE) else {
        // Not ours: the typed parse reports syntax errors with their position.
        return Ok(());
    };
    let rest = &message[index + DUPLICATE.len()..];
    let keys: Vec<&str> = rest
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .split('\u{1f}')
        .collect();
    let second = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let first = locate(text, &keys);
    Err(ConfigError::at(
        path,
        second,
        format!(
            "`{}` is given twice (first at line {}, column {}, again here); YAML would silently keep only the second — merge them or rename one",
            keys.join("."),
            first.0,
            first.1
        ),
    ))
}

/// Marks our message among yaml_serde's; the key path follows, separated by U+001F.
const DUPLICATE: &str = "\u{1f}duplicate key\u{1f}";

/// Any YAML value, checked for repeated keys on the way (nothing is kept).
struct Any;

impl<'de> de::Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Walk { path: Vec::new() }.deserialize(deserializer)
    }
}

/// Visits a value at `path` (the keys leading to it).
struct Walk {
    path: Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Any;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Any, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Any;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_str<E>(self, _: &str) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_unit<E>(self) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_none<E>(self) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Any, D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Any, D::Error> {
        self.deserialize(d)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Any, A::Error> {
        // A tagged value (`!tag x`): its content may hold mappings too.
        let (_, variant) = data.variant::<de::IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Any, A::Error> {
        while seq
            .next_element_seed(Walk {
                path: self.path.clone(),
            })?
            .is_some()
        {}
        Ok(Any)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Any, A::Error> {
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(Key {
            seen: &seen,
            path: &self.path,
        })? {
            let mut path = self.path.clone();
            path.push(key.clone());
            seen.push(key);
            map.next_value_seed(Walk { path })?;
        }
        Ok(Any)
    }
}

/// A mapping key as text; an error (located by the parser at this key) if `seen` has it.
struct Key<'a> {
    seen: &'a [String],
    path: &'a [String],
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.seen.iter().any(|s| s == v) {
            let mut keys = self.path.to_vec();
            keys.push(v.to_string());
            return Err(E::custom(format!("{DUPLICATE}{}", keys.join("\u{1f}"))));
        }
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_str("~")
    }
    // Complex keys (a mapping or sequence as a key) are not config keys; the typed parse
    // rejects them.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(String::from("[…]"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(String::from("{…}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_outside_quotes_and_comments() {
        assert_eq!(too_deep("a: [[1], {b: [2]}]\n"), None);
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert_eq!(
            too_deep(&format!("x:\n  - {deep}")),
            Some((2, 5 + MAX_FLOW_DEPTH))
        );
        let quoted = format!("a: \"{deep}\"\nb: '{deep}'\n# {deep}\nc: d # {deep}\n");
        assert_eq!(too_deep(&quoted), None);
    }

    #[test]
    fn duplicate_keys_name_both_places_at_any_depth() {
        let text = "repos:\n  demo:\n    clone_url: /a\n  other:\n    clone_url: /b\n  demo:\n    clone_url: /c\n";
        let err = check_duplicate_keys(text, Path::new("/c.yaml")).unwrap_err();
        assert_eq!(err.position, Some((6, 3)), "{err}");
        assert!(err.message.contains("`repos.demo`"), "{err}");
        assert!(err.message.contains("first at line 2, column 3"), "{err}");

        let text = "repos:\n  demo:\n    clone_url: /a\n    env: {A: 1, B: 2}\n    clone_url: /b\n";
        let err = check_duplicate_keys(text, Path::new("/c.yaml")).unwrap_err();
        assert_eq!(err.position, Some((5, 5)), "{err}");
        assert!(err.message.contains("first at line 3, column 5"), "{err}");

        assert!(check_duplicate_keys("a: {x: 1}\nb: {x: 1}\n", Path::new("/c")).is_ok());
    }
}
