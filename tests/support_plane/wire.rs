//! Plane's wire conventions as documented in shared/testdata/plane/README.md: the cursor
//! envelope, compact JSON error bodies, timestamps, ids, and `description_html` sanitising.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A response the fake sends: status, extra headers, body bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        Self {
            status,
            headers: Vec::new(),
            // DRF renders compact JSON (COMPACT_JSON), which is serde_json's default.
            body: serde_json::to_string(value).expect("serialise"),
        }
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// `{"error": "…"}`, Plane's shape for view-level errors.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    /// 409 on a duplicate: `{"error": "…", "id": "<existing>"}` (key order as Plane's).
    pub fn conflict(message: &str, id: &str) -> Self {
        #[derive(Serialize)]
        struct Conflict<'a> {
            error: &'a str,
            id: &'a str,
        }
        Self::json(409, &Conflict { error: message, id })
    }

    pub fn not_found() -> Self {
        Self::error(404, "The requested resource does not exist.")
    }

    /// A path that no route matches: observed as `{"error": "Page not found."}` (with a
    /// space, not compact).
    pub fn page_not_found() -> Self {
        Self::raw(404, r#"{"error": "Page not found."}"#)
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// The paginator's envelope; field order is the documented key order.
#[derive(Serialize)]
pub struct Envelope<T: Serialize> {
    pub grouped_by: Option<String>,
    pub sub_grouped_by: Option<String>,
    pub total_count: usize,
    pub next_cursor: String,
    pub prev_cursor: String,
    pub next_page_results: bool,
    pub prev_page_results: bool,
    pub count: usize,
    pub total_pages: usize,
    pub total_results: usize,
    pub extra_stats: Option<String>,
    pub results: Vec<T>,
}

/// Pages `items` (already in the list's order) per the `per_page` and `cursor` query
/// parameters: default and maximum 1000, cursor `per_page:page:is_prev` whose first number
/// is ignored (offset = page * per_page). A negative page is refused with 400 here (an
/// assumption: Plane's behaviour for it is not documented).
pub fn paginate<T: Serialize + Clone>(items: &[T], query: &[(String, String)]) -> Reply {
    let per_page = match param(query, "per_page") {
        None => 1000,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 1000 => {
                return Reply::error(400, "Invalid per_page value. Cannot exceed 1000.");
            }
            Ok(n) if n >= 1 => n as usize,
            _ => return Reply::error(400, "Invalid per_page parameter."),
        },
    };
    let page = match param(query, "cursor") {
        None => 0,
        Some(c) => match parse_cursor(c) {
            Some(page) => page,
            None => return Reply::error(400, "Invalid cursor parameter."),
        },
    };
    let total = items.len();
    let offset = page * per_page;
    let results: Vec<T> = items.iter().skip(offset).take(per_page).cloned().collect();
    let envelope = Envelope {
        grouped_by: None,
        sub_grouped_by: None,
        total_count: total,
        next_cursor: format!("{per_page}:{}:0", page + 1),
        prev_cursor: format!("{per_page}:{}:1", page as i64 - 1),
        next_page_results: total > offset + per_page,
        prev_page_results: page > 0,
        count: results.len(),
        total_pages: total.div_ceil(per_page),
        total_results: total,
        extra_stats: None,
        results,
    };
    Reply::json(200, &envelope)
}

/// `per_page:page:is_prev` → the page number; `None` when malformed.
fn parse_cursor(cursor: &str) -> Option<usize> {
    let parts: Vec<&str> = cursor.split(':').collect();
    let [value, page, is_prev] = parts.as_slice() else {
        return None;
    };
    value.parse::<i64>().ok()?;
    if !matches!(*is_prev, "0" | "1") {
        return None;
    }
    page.parse::<usize>().ok()
}

pub fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits and percent-decodes a query string (`+` is a space, as in forms).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A UUID-shaped id, unique within the process (v4 layout, counter in the last group).
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A UUID in the 8-4-4-4-12 hex form Plane's path converters accept.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Strictly increasing microsecond timestamps, so `-created_at` ordering is total.
pub fn now_micros() -> i64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next as i64,
            Err(p) => prev = p,
        }
    }
}

/// ISO 8601 with microseconds and `Z`, as DRF renders UTC datetimes.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .expect("timestamp")
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Plane validates and cleans `description_html`/`comment_html` server-side. The fake keeps
/// it simple: `<script>`, `<style>` and `<iframe>` elements go with their content, `on…=`
/// event attributes and `javascript:` URLs go; everything else passes unchanged.
pub fn sanitise(html: &str) -> String {
    static DANGEROUS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)<(script|style|iframe)\b[^>]*>.*?</(script|style|iframe)\s*>|<(script|style|iframe)\b[^>]*/?>").unwrap()
    });
    static EVENT_ATTR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\s+on[a-z]+\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)"#).unwrap()
    });
    static JS_URL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)(href|src)\s*=\s*("\s*javascript:[^"]*"|'\s*javascript:[^']*')"#)
            .unwrap()
    });
    let out = DANGEROUS.replace_all(html, "");
    let out = EVENT_ATTR.replace_all(&out, "");
    JS_URL.replace_all(&out, "$1=\"#\"").into_owned()
}

/// Observed on a real server: multi-element `description_html` comes back wrapped in
/// `<div>…</div>` (lxml round trip); a single element is unchanged.
pub fn wrap_description(html: &str) -> String {
    if top_level_elements(html) > 1 {
        format!("<div>{html}</div>")
    } else {
        html.to_string()
    }
}

fn top_level_elements(html: &str) -> usize {
    const VOID: [&str; 6] = ["br", "hr", "img", "input", "meta", "link"];
    static TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>").unwrap()
    });
    let (mut depth, mut count) = (0usize, 0usize);
    for caps in TAG.captures_iter(html) {
        let name = caps[2].to_ascii_lowercase();
        let void = VOID.contains(&name.as_str()) || !caps[3].is_empty();
        if !caps[1].is_empty() {
            depth = depth.saturating_sub(1);
        } else {
            if depth == 0 {
                count += 1;
            }
            if !void {
                depth += 1;
            }
        }
    }
    count
}
