//! Conversions between the HTML that Plane's rich-text editor stores and Markdown-ish text.

use std::sync::LazyLock;

use regex::Regex;

/// A start or end tag at the beginning of the input: `/`, name, attributes, self-closing `/`.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:"[^"]*"|'[^']*'|[^'">])*?)(/?)>"#)
        .expect("tag regex")
});
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"#)
        .expect("attribute regex")
});
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,7});")
        .expect("entity regex")
});
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$").expect("heading regex"));
static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([ \t]*)([-*+]|([0-9]{1,9})[.)])(?:[ \t]+(.*))?$").expect("list item regex")
});

/// Stands in for `&nbsp;` while whitespace is collapsed (so indentation survives), then
/// becomes a plain space.
const NBSP: char = '\u{a0}';

struct List {
    ordered: bool,
    next: u64,
}

#[derive(Default)]
struct Converter {
    out: String,
    lists: Vec<List>,
    in_pre: bool,
    fence_pending: bool,
    in_heading: bool,
    /// A heading just ended: its content starts on the next line, with no blank line
    /// between (the layout of the original's descriptions, `## Execution\nrepo: x`).
    after_heading: bool,
    item_start: bool,
    skip_depth: usize,
}

impl Converter {
    fn trim_spaces(&mut self) {
        let kept = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(kept);
    }

    fn newline(&mut self) {
        self.trim_spaces();
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn blank_line(&mut self) {
        self.newline();
        if std::mem::take(&mut self.after_heading) {
            return;
        }
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn continuation_indent(&mut self) {
        let width = self.lists.len() * 2;
        self.out.extend(std::iter::repeat_n(' ', width));
    }

    fn fence(&mut self, lang: &str) {
        self.out.push_str("```");
        self.out.push_str(lang);
        self.out.push('\n');
        self.fence_pending = false;
    }

    fn text(&mut self, raw: &str) {
        if self.skip_depth > 0 || raw.is_empty() {
            return;
        }
        let decoded = decode_entities(raw);
        if self.in_pre {
            let mut text = decoded.as_str();
            if self.fence_pending {
                self.fence("");
                text = text.strip_prefix('\n').unwrap_or(text);
            }
            self.out.push_str(text);
            return;
        }
        for c in decoded.chars() {
            if c.is_ascii_whitespace() {
                let at_line_start = self.out.is_empty() || self.out.ends_with(['\n', ' ']);
                if !at_line_start {
                    self.out.push(' ');
                }
            } else {
                self.out.push(c);
                self.item_start = false;
                self.after_heading = false;
            }
        }
    }

    /// Inline markers (`**`, `*`, `` ` ``): a closing marker goes before trailing space.
    fn marker(&mut self, marker: &str, closing: bool) {
        if closing && self.out.ends_with(' ') {
            self.out.pop();
            self.out.push_str(marker);
            self.out.push(' ');
        } else {
            self.out.push_str(marker);
        }
    }

    fn open(&mut self, name: &str, attrs: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.blank_line();
                let level = usize::from(name.as_bytes()[1] - b'0');
                self.out.push_str(&"#".repeat(level));
                self.out.push(' ');
                self.in_heading = true;
            }
            "p" if !self.lists.is_empty() && !self.item_start => {
                self.newline();
                self.continuation_indent();
            }
            "p" if !self.lists.is_empty() => {}
            "p" | "blockquote" | "table" => self.blank_line(),
            "div" | "tr" => self.newline(),
            "td" | "th" => self.text(" "),
            "br" if self.in_pre => self.out.push('\n'),
            "br" => {
                self.trim_spaces();
                self.out.push('\n');
                if !self.lists.is_empty() {
                    self.continuation_indent();
                }
            }
            "hr" => {
                self.blank_line();
                self.out.push_str("---");
                self.blank_line();
            }
            "ul" | "ol" => {
                if self.lists.is_empty() {
                    self.blank_line();
                } else {
                    self.newline();
                }
                let next = attr(attrs, "start").and_then(|s| s.parse().ok());
                self.lists.push(List {
                    ordered: name == "ol",
                    next: next.unwrap_or(1),
                });
            }
            "li" => {
                self.newline();
                let depth = self.lists.len().max(1);
                self.out.extend(std::iter::repeat_n(' ', (depth - 1) * 2));
                match self.lists.last_mut() {
                    Some(list) if list.ordered => {
                        self.out.push_str(&format!("{}. ", list.next));
                        list.next += 1;
                    }
                    _ => match attr(attrs, "data-checked").as_deref() {
                        Some("true") => self.out.push_str("- [x] "),
                        Some("false") => self.out.push_str("- [ ] "),
                        _ => self.out.push_str("- "),
                    },
                }
                self.item_start = true;
            }
            "pre" => {
                self.blank_line();
                self.in_pre = true;
                self.fence_pending = true;
            }
            "code" if self.in_pre && self.fence_pending => {
                let class = attr(attrs, "class").unwrap_or_default();
                let lang = class
                    .split_whitespace()
                    .find_map(|c| c.strip_prefix("language-"))
                    .unwrap_or("");
                self.fence(lang);
            }
            "code" if self.in_pre => {}
            "code" => self.marker("`", false),
            "strong" | "b" if !self.in_heading => self.marker("**", false),
            "em" | "i" if !self.in_heading => self.marker("*", false),
            "s" | "del" | "strike" => self.marker("~~", false),
            "script" | "style" | "head" | "title" => self.skip_depth += 1,
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.in_heading = false;
                self.newline();
                self.after_heading = true;
            }
            "p" | "blockquote" | "table" if self.lists.is_empty() => self.blank_line(),
            "div" | "tr" | "li" => self.newline(),
            "ul" | "ol" => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank_line();
                } else {
                    self.newline();
                }
            }
            "pre" if self.in_pre => {
                if self.fence_pending {
                    self.fence("");
                }
                if !self.out.ends_with('\n') {
                    self.out.push('\n');
                }
                self.out.push_str("```");
                self.in_pre = false;
                self.blank_line();
            }
            "code" if !self.in_pre => self.marker("`", true),
            "strong" | "b" if !self.in_heading => self.marker("**", true),
            "em" | "i" if !self.in_heading => self.marker("*", true),
            "s" | "del" | "strike" => self.marker("~~", true),
            "script" | "style" | "head" | "title" => {
                self.skip_depth = self.skip_depth.saturating_sub(1);
            }
            _ => {}
        }
    }
}

/// The value of attribute `name` in a tag's attribute text, entities decoded.
fn attr(attrs: &str, name: &str) -> Option<String> {
    ATTR.captures_iter(attrs)
        .find(|c| c[1].eq_ignore_ascii_case(name))
        .map(|c| {
            let value = c.get(2).or(c.get(3)).or(c.get(4));
            decode_entities(value.map_or("", |m| m.as_str()))
        })
}

/// Decodes the named entities Plane emits plus numeric `&#NN;` / `&#xHH;` references;
/// `&nbsp;` becomes U+00A0 (turned into a space by `html_to_text`). Unknown ones are kept.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    ENTITY
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let body = &caps[1];
            let decoded = if let Some(hex) = body.strip_prefix("#x").or(body.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
            } else if let Some(dec) = body.strip_prefix('#') {
                dec.parse().ok().and_then(char::from_u32)
            } else {
                match body {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(NBSP),
                    _ => None,
                }
            };
            decoded.map_or_else(|| caps[0].to_string(), String::from)
        })
        .into_owned()
}

/// Converts the HTML that Plane's rich-text editor stores (description_html, comment_html)
/// into Markdown-ish text: headings, paragraphs, lists, fenced code, inline emphasis.
pub fn html_to_text(html: &str) -> String {
    let mut conv = Converter::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        conv.text(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
        } else if let Some(caps) = TAG.captures(rest) {
            let name = caps[2].to_ascii_lowercase();
            if caps[1].is_empty() {
                conv.open(&name, &caps[3]);
            } else {
                conv.close(&name);
            }
            rest = &rest[caps[0].len()..];
        } else {
            conv.text("<");
            rest = &rest[1..];
        }
    }
    conv.text(rest);
    if conv.in_pre {
        conv.close("pre");
    }
    conv.out
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .replace(NBSP, " ")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a line and turns `` `code` `` spans into `<code>` (an unpaired backtick stays).
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = escape(parts[0]);
    for (i, part) in parts.iter().enumerate().skip(1) {
        if i % 2 == 1 && i + 1 < parts.len() {
            out.push_str(&format!("<code>{}</code>", escape(part)));
        } else {
            out.push_str(if i % 2 == 1 { "`" } else { "" });
            out.push_str(&escape(part));
        }
    }
    out
}

/// HTML folds runs of spaces into one; a quoted stack trace (`>   at main.rs:7`) keeps its
/// alignment when every space after the first of a run is `&nbsp;` (read back as a space).
fn keep_space_runs(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut after_space = false;
    for c in html.chars() {
        if c == ' ' && after_space {
            out.push_str("&nbsp;");
        } else {
            out.push(c);
        }
        after_space = c == ' ';
    }
    out
}

/// Builder state for `markdown_to_html`: the open paragraph and list stack.
#[derive(Default)]
struct HtmlWriter {
    out: String,
    paragraph: Vec<String>,
    /// Open lists: (ordered, indentation of their items).
    lists: Vec<(bool, usize)>,
}

impl HtmlWriter {
    fn flush_paragraph(&mut self) {
        if !self.paragraph.is_empty() {
            self.out.push_str("<p>");
            self.out.push_str(&self.paragraph.join("<br>"));
            self.out.push_str("</p>\n");
            self.paragraph.clear();
        }
    }

    fn close_list(&mut self) {
        if let Some((ordered, _)) = self.lists.pop() {
            self.out
                .push_str(if ordered { "</li></ol>" } else { "</li></ul>" });
            if self.lists.is_empty() {
                self.out.push('\n');
            }
        }
    }

    fn close_blocks(&mut self) {
        self.flush_paragraph();
        while !self.lists.is_empty() {
            self.close_list();
        }
    }

    fn item(&mut self, indent: usize, ordered: bool, number: Option<u64>, text: &str) {
        self.flush_paragraph();
        while self.lists.last().is_some_and(|&(_, i)| i > indent) {
            self.close_list();
        }
        match self.lists.last() {
            Some(&(o, i)) if i == indent && o == ordered => self.out.push_str("</li>"),
            Some(&(_, i)) if i == indent => self.close_list(),
            _ => {}
        }
        if self.lists.last().is_none_or(|&(_, i)| i < indent) {
            match (ordered, number) {
                (true, Some(n)) if n != 1 => self.out.push_str(&format!("<ol start=\"{n}\">")),
                (true, _) => self.out.push_str("<ol>"),
                (false, _) => self.out.push_str("<ul>"),
            }
            self.lists.push((ordered, indent));
        }
        self.out.push_str("<li>");
        self.out.push_str(&inline(text));
    }
}

/// Converts Markdown (headings, paragraphs, `-`/`1.` lists, fenced code blocks, inline
/// `code`) to HTML for Plane, escaping `&<>"`. Every input line appears in the output.
pub fn markdown_to_html(md: &str) -> String {
    let mut w = HtmlWriter::default();
    let mut code: Option<Vec<&str>> = None;
    for line in md.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if let Some(block) = code.as_mut() {
            if trimmed.starts_with("```") {
                w.out
                    .push_str(&format!("{}</code></pre>\n", escape(&block.join("\n"))));
                code = None;
            } else {
                block.push(line);
            }
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            w.close_blocks();
            let lang = info.split_whitespace().next().unwrap_or("");
            if lang.is_empty() {
                w.out.push_str("<pre><code>");
            } else {
                w.out
                    .push_str(&format!("<pre><code class=\"language-{}\">", escape(lang)));
            }
            code = Some(Vec::new());
        } else if trimmed.is_empty() {
            w.close_blocks();
        } else if let Some(caps) = HEADING.captures(line) {
            w.close_blocks();
            let level = caps[1].len();
            w.out
                .push_str(&format!("<h{level}>{}</h{level}>\n", inline(&caps[2])));
        } else if trimmed.len() >= 3 && trimmed.chars().all(|c| c == '-') {
            w.close_blocks();
            w.out.push_str("<hr>\n");
        } else if let Some(caps) = LIST_ITEM.captures(line) {
            let indent = caps[1].len();
            let number = caps.get(3).and_then(|n| n.as_str().parse().ok());
            let text = caps.get(4).map_or("", |m| m.as_str());
            w.item(indent, number.is_some(), number, text);
        } else if !w.lists.is_empty() && line.len() > trimmed.len() {
            // An indented line under a list item continues that item.
            w.out.push_str("<br>");
            w.out.push_str(&inline(trimmed));
        } else {
            if !w.lists.is_empty() {
                w.close_blocks();
            }
            let indent = line.len() - trimmed.len();
            w.paragraph.push(format!(
                "{}{}",
                "&nbsp;".repeat(indent),
                keep_space_runs(&inline(trimmed))
            ));
        }
    }
    if let Some(block) = code {
        w.out
            .push_str(&format!("{}</code></pre>\n", escape(&block.join("\n"))));
    }
    w.close_blocks();
    w.out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_paragraphs_and_breaks() {
        let html = "<h2>Execution</h2><p>repo: repo_a<br/>base_branch: main</p><h3>Sub  <strong>title</strong></h3><p>Some   text\n  wrapped <em>here</em>.</p><p></p>";
        assert_eq!(
            html_to_text(html),
            "## Execution\nrepo: repo_a\nbase_branch: main\n\n### Sub title\nSome text wrapped *here*."
        );
    }

    #[test]
    fn nested_lists() {
        let html = "<ul><li><p>one</p></li><li>two<ul><li>two.a</li><li>two.b</li></ul></li><li>three</li></ul><ol><li>first</li><li>second</li></ol><p>after</p>";
        assert_eq!(
            html_to_text(html),
            "- one\n- two\n  - two.a\n  - two.b\n- three\n\n1. first\n2. second\n\nafter"
        );
        let tasks = "<ul data-type=\"taskList\"><li data-checked=\"true\">done</li><li data-checked=\"false\">todo</li></ul>";
        assert_eq!(html_to_text(tasks), "- [x] done\n- [ ] todo");
    }

    #[test]
    fn pre_code_and_inline_code() {
        let html = "<p>Run <code>cargo test</code> now.</p><pre><code class=\"language-rust\">fn main() {\n    let x = 1 &lt; 2;\n\n}</code></pre><pre>plain   text</pre>";
        assert_eq!(
            html_to_text(html),
            "Run `cargo test` now.\n\n```rust\nfn main() {\n    let x = 1 < 2;\n\n}\n```\n\n```\nplain   text\n```"
        );
    }

    #[test]
    fn entities_links_and_unknown_tags() {
        let html = "<p>a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; f&nbsp;g &#65;&#x42; &bogus; <a href=\"https://x\">link</a> <span class=\"x\">kept</span></p><script>alert(1)</script><p>x < y</p>";
        assert_eq!(
            html_to_text(html),
            "a & b <c> \"d\" 'e' f g AB &bogus; link kept\n\nx < y"
        );
    }

    #[test]
    fn markdown_to_html_blocks_and_escaping() {
        let md = "# Title\n\nFirst paragraph\nsecond line.\n\nSecond paragraph with `a < b`.\n\n```sh\necho \"hi\" && <script>\n\n  indented\n```\n\n<script>alert(1)</script>";
        let html = markdown_to_html(md);
        assert_eq!(
            html,
            "<h1>Title</h1>\n<p>First paragraph<br>second line.</p>\n<p>Second paragraph with <code>a &lt; b</code>.</p>\n<pre><code class=\"language-sh\">echo &quot;hi&quot; &amp;&amp; &lt;script&gt;\n\n  indented</code></pre>\n<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
        assert!(!html.contains("<script>"));
        let back = html_to_text(&html);
        assert!(back.contains("```sh\necho \"hi\" && <script>\n\n  indented\n```"));
        assert!(back.contains("First paragraph\nsecond line.\n\nSecond paragraph"));
    }

    #[test]
    fn markdown_lists_nest_and_keep_every_line() {
        let md = "- a\n  - a1\n  continued\n- b\n1. one\n2. two\ntrailing";
        let html = markdown_to_html(md);
        assert_eq!(
            html,
            "<ul><li>a<ul><li>a1<br>continued</li></ul></li><li>b</li></ul>\n<ol><li>one</li><li>two</li></ol>\n<p>trailing</p>"
        );
        assert_eq!(
            html_to_text(&html),
            "- a\n  - a1\n    continued\n- b\n\n1. one\n2. two\n\ntrailing"
        );
    }

    #[test]
    fn quoted_lines_keep_their_spaces() {
        let md = "> ```text\n> ERROR crashed\n>   at charge (billing.rs:42)\n> ```";
        assert_eq!(
            html_to_text(&markdown_to_html(md)).replace("\n\n", "\n"),
            md
        );
    }

    #[test]
    fn round_trip_task_description() {
        let md = "Intro line.\n\n## Execution\nrepo: repo_a\nbase_branch: main\nmode: goal\nallowed_paths:\n  - src/\n  - tests/\n\n## Goal\nDo the `thing` & more.\n\n## Constraints\n- Keep tests green.\n- No new deps.\n\n## Context\n- source_task_id: 42";
        let text = html_to_text(&markdown_to_html(md));
        for line in md.lines().filter(|l| !l.trim().is_empty()) {
            assert!(text.contains(line.trim()), "missing {line:?} in {text:?}");
        }
        let (_, sections) = crate::board::description::split_sections(&text);
        let titles: Vec<_> = sections.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(titles, ["execution", "goal", "constraints", "context"]);
        let t = crate::board::description::parse_task(&markdown_to_html(md), &[]).unwrap();
        assert_eq!(t.repo, "repo_a");
        assert_eq!(t.allowed_paths, ["src/", "tests/"]);
        assert_eq!(t.goal, "Do the `thing` & more.");
        assert_eq!(
            t.constraints.as_deref(),
            Some("- Keep tests green.\n- No new deps.")
        );
    }
}
