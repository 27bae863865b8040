//! Pure classification of coding-agent runs (kodo, Claude Code, any scripted command).
//!
//! The exit status alone is not trustworthy: every recorded kodo run exited 0, including
//! runs that did no work because the model quota was exhausted. The outcome therefore comes
//! from the exit status *and* the output text (see `testdata/kodo/README.md`).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Outcome of one agent run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunClass {
    /// The run finished and produced its work.
    Success,
    /// Some of the work was done (failed stage, stopped run, unmerged worktree).
    Partial,
    /// The agent failed.
    Error,
    /// The run hit its time limit.
    Timeout,
    /// The model quota or credits ran out; retrying before the reset is pointless.
    CapacityExhausted,
    /// The agent asked the human a question (`<!-- cp:question: ... -->`).
    AwaitingInput,
}

impl RunClass {
    /// The snake_case name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunClass::Success => "success",
            RunClass::Partial => "partial",
            RunClass::Error => "error",
            RunClass::Timeout => "timeout",
            RunClass::CapacityExhausted => "capacity_exhausted",
            RunClass::AwaitingInput => "awaiting_input",
        }
    }
}

impl fmt::Display for RunClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the agent process ended.
///
/// A missing `code` without a `signal` is treated as a clean exit (callers that only have
/// the output text); a `signal` or a negative `code` means the process was killed.
#[derive(Debug, Clone, Default)]
pub struct RunExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
}

/// Result of [`classify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub class: RunClass,
    /// one line, for comments and logs, e.g. "capacity exhaustion detected: You're out of extra usage · resets 9:20am (America/New_York)"
    pub reason: String,
    /// finer cause for Blocked tasks: e.g. "timeout", "capacity_exhausted", "partial_run", "unmerged_work", "agent_error", "oom", "context_limit", "dependency_missing", "model_error", "awaiting_input"
    ///
    /// Empty for [`RunClass::Success`].
    pub blocked_classification: &'static str,
    /// real cost reported by the agent's own output, if any
    pub cost_usd: Option<f64>,
    /// the question from `<!-- cp:question: ... -->`, if present
    pub question: Option<String>,
    /// true when capacity exhaustion caused the outcome: always for
    /// [`RunClass::CapacityExhausted`], and for a partial run (failed/stopped stage) whose
    /// output carries capacity-error hits. Sub-agent quota errors in a run that still
    /// succeeded, or whose only problem is an unmerged worktree, do not set it.
    pub capacity_related: bool,
}

/// Longest excerpt of output quoted in a reason.
const EXCERPT_CHARS: usize = 160;

static ANSI_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*m").unwrap());
static QUESTION_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<!--\s*cp:question:(.+?)-->").unwrap());

/// The capacity/quota phrases (G1 `normalize.py`); `_` also covers the OpenAI error code.
const CAPACITY_PHRASES: &str = r"out of (?:extra )?usage|usage limit (?:reached|hit)|you(?:'ve| have|’ve) (?:hit|reached) your (?:usage )?limit|quota (?:exceeded|exhausted)|insufficient[_ ]quota|run out of credits|payment required";
static CAPACITY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){CAPACITY_PHRASES}")).unwrap());
/// A line that *starts* with the phrase (after log tags such as `[  5.3s]`), e.g. Claude
/// Code's own `You're out of extra usage · resets 4:20am`. Prose quoting it does not.
static CAPACITY_LEADING_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(?:\[[^\]]*\]\s*)*(?:you(?:'re|’re| are|'ve|’ve| have) )?(?:{CAPACITY_PHRASES})"
    ))
    .unwrap()
});
/// `error:` forms: `[tester] error: …`, `Claude Code error: …`, `Error code: 429 …`.
static ERROR_FORM_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)error(?:\s+code)?['"]?\s*:|\[claude code error\]"#).unwrap()
});
/// kodo's summary line for a failed stage: `  - Stage 2: <name> — <error>`.
static FAILED_STAGE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*-\s+Stage\s+\d+:").unwrap());

/// `Done: [k/n stage(s) completed, ]c cycle(s), e exchanges, $cost, dur` — strict so that
/// agent prose starting with "Done:" is not taken for kodo's summary.
static DONE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*Done:\s+(?:(\d+)/(\d+)\s+stages?\s+completed,\s+)?\d+\s+cycles?,\s+\d+\s+exchanges?,\s+\$(\d+(?:\.\d+)?)",
    )
    .unwrap()
});
/// kodo log markers, only at line start after `[...]` tags (timestamp, `[orchestrator]`), so
/// quoted prose in markdown lists/backticks does not match.
static STOPPING_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:\[[^\]]*\]\s*)*Stopping run\b").unwrap());
static CRASHED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:\[[^\]]*\]\s*)*(?:Stage\s+\d+\s+\(.*\)\s+crashed|crashed:)").unwrap()
});
static REFUSING_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:\[[^\]]*\]\s*)+.*\brefusing to merge\b").unwrap());
static TIMESTAMP_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[\s*\d+(?:\.\d+)?s\]\s*").unwrap());

/// Error causes for Blocked tasks, first match wins (lower-cased substrings).
#[rustfmt::skip]
const ERROR_TOKENS: &[(&str, &[&str])] = &[
    ("oom", &["out of memory", "cannot allocate memory", "memory allocation failed"]),
    ("context_limit", &["context window", "context length", "maximum context",
        "context_length_exceeded", "token limit"]),
    ("dependency_missing", &["modulenotfounderror", "no module named", "command not found",
        "importerror"]),
    ("model_error", &["overloaded", "model error", "internal server error"]),
];

/// Removes ANSI SGR escapes (`ESC[...m`); borrows when there is none.
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    if s.contains('\x1b') {
        ANSI_RE.replace_all(s, "")
    } else {
        Cow::Borrowed(s)
    }
}

/// The real cost reported by the agent: the last JSON object line with a numeric
/// `total_cost_usd` (or `cost_usd`), else the `$` of kodo's `Done:` line (the orchestrator
/// cost; the FINAL STATS box is only Claude Code's estimate and is ignored).
pub fn extract_cost_usd(stdout: &str) -> Option<f64> {
    let text = strip_ansi(stdout);
    let json_cost = |v: &Value| {
        ["total_cost_usd", "cost_usd"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_f64))
    };
    json_objects(&text)
        .iter()
        .rev()
        .find_map(json_cost)
        .or_else(|| last_done(&text).map(|d| d.cost))
}

/// Classifies one run from its exit status and output (rules in precedence order).
/// A finished agent judged from its exit and output files: the classification, its output,
/// and the cost to record — what it reported, nothing for a capacity no-op (it did no
/// work), else the configured flat cost per execution.
pub struct Judged {
    pub classification: Classification,
    pub stdout: String,
    pub stderr: String,
    pub cost_usd: f64,
    pub cost_source: &'static str,
}

impl Judged {
    pub fn capacity_exhausted(&self) -> bool {
        self.classification.class == RunClass::CapacityExhausted
    }
}

pub fn judge(
    outcome: &crate::daemon::subprocess::Outcome,
    spec: &crate::daemon::subprocess::Spec,
    flat_cost_usd: f64,
) -> Judged {
    let stdout = crate::daemon::subprocess::read_lossy(&spec.stdout);
    let stderr = crate::daemon::subprocess::read_lossy(&spec.stderr);
    let classification = classify(
        &RunExit {
            code: outcome.code,
            signal: outcome.signal,
            timed_out: outcome.timed_out,
        },
        &stdout,
        &stderr,
    );
    let capacity = classification.class == RunClass::CapacityExhausted;
    let (cost_usd, cost_source) = match classification.cost_usd {
        Some(v) => (v, "reported"),
        None if capacity => (0.0, "none"),
        None => (flat_cost_usd, "configured"),
    };
    Judged {
        classification,
        stdout,
        stderr,
        cost_usd,
        cost_source,
    }
}

pub fn classify(exit: &RunExit, stdout: &str, stderr: &str) -> Classification {
    let out = strip_ansi(stdout);
    let err = strip_ansi(stderr);
    let cost_usd = extract_cost_usd(&out).or_else(|| extract_cost_usd(&err));
    let mk = |class, reason: String, blocked, capacity_related| Classification {
        class,
        reason,
        blocked_classification: blocked,
        cost_usd,
        question: None,
        capacity_related,
    };
    let exhausted = |hit: &str| {
        let reason = format!("capacity exhaustion detected: {}", clip(hit));
        mk(
            RunClass::CapacityExhausted,
            reason,
            "capacity_exhausted",
            true,
        )
    };
    let partial = |line: &str, blocked, capacity_related| {
        let reason = format!("partial run: {}", clip(line));
        mk(RunClass::Partial, reason, blocked, capacity_related)
    };
    let exit_ok = exit.signal.is_none() && exit.code.unwrap_or(0) == 0;

    // 1. The time limit wins: whatever the output says, the run was cut off.
    if exit.timed_out {
        let reason = format!("run timed out ({})", exit_desc(exit));
        return mk(RunClass::Timeout, reason, "timeout", false);
    }

    // 2. A question for the human: the agent stopped on purpose, do not retry.
    if let Some(q) = [&out, &err].iter().find_map(|t| question(t)) {
        let reason = format!("awaiting input: {}", clip(&q));
        let c = mk(RunClass::AwaitingInput, reason, "awaiting_input", false);
        return Classification {
            question: Some(q),
            ..c
        };
    }

    // 3. Capacity phrases, only in agent-error forms (never in prose). A pretty-printed
    //    JSON result spans lines; its text is judged by the result rule only.
    let lines: Vec<&str> = out.lines().chain(err.lines()).collect();
    let skip = if parse_object(out.trim()).is_some() {
        out.lines().count()
    } else {
        0
    };
    let mut capacity = lines[skip..]
        .iter()
        .find(|l| is_capacity_error_line(l))
        .map(|l| display_line(l));
    let json = json_objects(&out);
    let result = json.iter().rev().find(|v| is_claude_result(v));
    let result_failed = result.is_some_and(|r| {
        r.get("is_error").and_then(Value::as_bool) == Some(true)
            || r.get("subtype")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "success")
    });
    let result_text = result.map(claude_error_text).unwrap_or_default();
    if capacity.is_none() && result_failed && CAPACITY_RE.is_match(&result_text) {
        capacity = Some(result_text.clone());
    }

    // 4. kodo summary.
    let done = last_done(&out);
    let marker = |re: &Regex| {
        lines
            .iter()
            .find(|l| re.is_match(l))
            .map(|l| display_line(l))
    };
    let (stopping, crashed) = (marker(&STOPPING_RE), marker(&CRASHED_RE));
    let refusing = marker(&REFUSING_RE);
    if done.is_some() || stopping.is_some() || crashed.is_some() || refusing.is_some() {
        let stages = done.as_ref().and_then(|d| d.stages);
        if let Some(hit) = &capacity {
            if stages.is_none_or(|(k, _)| k == 0) {
                // Nothing was done (157 of 164 upstream runs): a no-op, not a success.
                return exhausted(hit);
            }
        }
        let incomplete = stages.is_some_and(|(k, n)| k < n);
        let done_line = done.as_ref().map(|d| d.line.clone());
        let failed = if incomplete {
            done_line.clone()
        } else {
            crashed.or(stopping)
        };
        if let Some(line) = failed {
            return partial(&line, "partial_run", capacity.is_some());
        }
        if let Some(line) = &refusing {
            // "4/4 stages completed" but a worktree's work never reached the main repo.
            return partial(line, "unmerged_work", false);
        }
        if exit_ok {
            // Sub-agent quota errors the orchestrator recovered from do not matter here.
            let reason = format!("completed: {}", clip(&done_line.unwrap_or_default()));
            return mk(RunClass::Success, reason, "", false);
        }
        // A complete summary with a failing exit falls through to the exit-status rules.
    }

    // 5. Claude JSON result (`--output-format json` or the last stream-json line).
    if let Some(r) = result {
        if result_failed {
            if let Some(hit) = &capacity {
                return exhausted(hit);
            }
            let subtype = r.get("subtype").and_then(Value::as_str).unwrap_or("error");
            let head = format!("claude run failed ({subtype}, {})", exit_desc(exit));
            let detail = Some(result_text.as_str()).filter(|t| !t.is_empty());
            let reason = with_detail(head, detail.or_else(|| last_line(&err)));
            let blocked = error_cause(&format!("{result_text}\n{err}"));
            return mk(RunClass::Error, reason, blocked, false);
        }
        if exit_ok {
            let reason = format!("claude run succeeded ({})", exit_desc(exit));
            return mk(RunClass::Success, reason, "", false);
        }
    }

    // 6. Plain output: capacity first (Claude Code prints it and exits 0), then the exit.
    if let Some(hit) = &capacity {
        return exhausted(hit);
    }
    if exit_ok {
        let reason = format!("finished ({})", exit_desc(exit));
        return mk(RunClass::Success, reason, "", false);
    }
    if exit.signal.is_none() && exit.code == Some(2) {
        // kodo's "finished with failed stages" exit status.
        return partial("exit code 2", "partial_run", false);
    }
    let detail = last_line(&err).or_else(|| last_line(&out));
    let reason = with_detail(format!("agent failed ({})", exit_desc(exit)), detail);
    let blocked = error_cause(&format!("{out}\n{err}"));
    mk(RunClass::Error, reason, blocked, false)
}

/// `head: <detail clipped>`, or just `head`.
fn with_detail(head: String, detail: Option<&str>) -> String {
    match detail {
        Some(d) => format!("{head}: {}", clip(d)),
        None => head,
    }
}

/// kodo's `Done:` summary line.
struct Done {
    line: String,
    /// `(completed, planned)`; `None` for a run without a plan.
    stages: Option<(u32, u32)>,
    cost: f64,
}

fn last_done(text: &str) -> Option<Done> {
    text.lines().rev().find_map(|l| {
        let c = DONE_RE.captures(l)?;
        let num = |i| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        Some(Done {
            line: l.trim().to_string(),
            stages: num(1).zip(num(2)),
            cost: c[3].parse().ok()?,
        })
    })
}

/// First non-empty question of a `cp:question` marker.
fn question(text: &str) -> Option<String> {
    QUESTION_RE
        .captures_iter(text)
        .map(|c| c[1].trim().to_string())
        .find(|q| !q.is_empty())
}

/// A capacity phrase in one of the agent-error forms (rule 3). JSON lines are left to the
/// Claude-result rule: their prose must not count unless `is_error` is set.
fn is_capacity_error_line(line: &str) -> bool {
    let t = line.trim();
    if !CAPACITY_RE.is_match(t) || parse_object(t).is_some() {
        return false;
    }
    ERROR_FORM_RE.is_match(t) || FAILED_STAGE_RE.is_match(t) || CAPACITY_LEADING_RE.is_match(t)
}

/// Top-level JSON objects: one per line (json / stream-json), else the whole text
/// (pretty-printed `--output-format json`).
fn json_objects(text: &str) -> Vec<Value> {
    let objs: Vec<Value> = text
        .lines()
        .filter_map(|l| parse_object(l.trim()))
        .collect();
    if objs.is_empty() {
        parse_object(text.trim()).into_iter().collect()
    } else {
        objs
    }
}

fn parse_object(s: &str) -> Option<Value> {
    if !(s.starts_with('{') && s.ends_with('}')) {
        return None;
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(Value::is_object)
}

/// A Claude Code result object: `"type":"result"`, or the untyped shape with its fields.
fn is_claude_result(v: &Value) -> bool {
    match v.get("type").and_then(Value::as_str) {
        Some(t) => t == "result",
        None => v.get("is_error").is_some() || v.get("subtype").is_some(),
    }
}

/// `result` text plus `errors` of a Claude result object, on one line.
fn claude_error_text(v: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(r) = v.get("result").and_then(Value::as_str) {
        parts.push(r.to_string());
    }
    if let Some(errs) = v.get("errors").and_then(Value::as_array) {
        parts.extend(errs.iter().map(|e| match e.as_str() {
            Some(s) => s.to_string(),
            None => e.to_string(),
        }));
    }
    let joined = parts.join("; ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Blocked classification from tokens in the output, else "agent_error".
fn error_cause(text: &str) -> &'static str {
    let lower = text.to_lowercase();
    ERROR_TOKENS
        .iter()
        .find(|(_, toks)| toks.iter().any(|t| lower.contains(t)))
        .map_or("agent_error", |(cause, _)| cause)
}

fn exit_desc(exit: &RunExit) -> String {
    match (exit.signal, exit.code) {
        (Some(s), _) => format!("killed by signal {s}"),
        // Python-style negative codes mean "killed by signal -code".
        (None, Some(c)) if c < 0 => format!("killed by signal {}", -c),
        (None, Some(c)) => format!("exit code {c}"),
        (None, None) => "exit status unknown".to_string(),
    }
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// A log line for a reason: trimmed, without kodo's leading `[  5.3s]` timestamp.
fn display_line(line: &str) -> String {
    TIMESTAMP_RE.replace(line.trim(), "").trim().to_string()
}

/// At most [`EXCERPT_CHARS`] characters, `…` included (not bytes: the quota text has a `·`).
fn clip(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some(_) => format!("{}…", s.chars().take(EXCERPT_CHARS - 1).collect::<String>()),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata");

    fn read(rel: &str) -> String {
        let path = format!("{TESTDATA}/{rel}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn code(c: i32) -> RunExit {
        RunExit {
            code: Some(c),
            ..RunExit::default()
        }
    }

    /// The six real kodo captures, each with the exit code recorded in its capture file.
    #[test]
    fn kodo_captures() {
        use RunClass::*;
        #[rustfmt::skip]
        let cases = [
            ("quota-noop", CapacityExhausted, "capacity_exhausted", 0.0, true,
             "capacity exhaustion detected: You're out of extra usage · resets 9:20am (America/New_York)"),
            ("partial-stopping-run", Partial, "partial_run", 0.4106, true,
             "partial run: Done: 1/2 stages completed, 3 cycles, 24 exchanges, $0.4106, 5m21s"),
            ("full-success", Success, "", 0.4495, false, "completed: Done: 2/2 stages completed"),
            ("worker-error", Partial, "partial_run", 1.0434, true, "partial run: Done: 3/4 stages"),
            ("persist-merge-refusal", Partial, "unmerged_work", 2.9424, false,
             "partial run: [persist] Stage 'Add missing unit tests': refusing to merge — main"),
            ("success-quoting-quota-text", Success, "", 0.2089, false, "completed: Done: 1/1 stage"),
        ];
        for (name, class, blocked, cost, capacity_related, reason) in cases {
            let capture = read(&format!("kodo/{name}/kodo-run-capture.json"));
            let capture: Value = serde_json::from_str(&capture).unwrap();
            let exit = RunExit {
                code: Some(capture["exit_code"].as_i64().unwrap() as i32),
                signal: None,
                timed_out: capture["timeout_hit"].as_bool().unwrap(),
            };
            let out = read(&format!("kodo/{name}/kodo-stdout.log"));
            let c = classify(&exit, &out, "");
            assert_eq!(
                (c.class, c.blocked_classification),
                (class, blocked),
                "{name}: {c:?}"
            );
            assert_eq!(
                (c.cost_usd, c.capacity_related),
                (Some(cost), capacity_related),
                "{name}"
            );
            assert!(c.reason.starts_with(reason), "{name}: {}", c.reason);
            assert!(
                c.reason.chars().count() <= 200 && c.question.is_none(),
                "{name}"
            );
        }
    }

    /// (what, exit, stdout, stderr, class, blocked classification, cost)
    type Case<'a> = (
        &'a str,
        &'a RunExit,
        &'a str,
        &'a str,
        RunClass,
        &'a str,
        Option<f64>,
    );

    /// Synthetic runs of every rule.
    #[test]
    fn synthetic_runs() {
        use RunClass::*;
        let done = "Done: 1/1 stage completed, 1 cycle, 2 exchanges, $0.05, 9s\n";
        let question = format!(
            "work\n\x1b[2m<!-- CP:Question:  Which database\nshould I use? -->\x1b[0m\n{done}"
        );
        let ok = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.0123}"#;
        let prose =
            r#"{"type":"assistant","message":{"content":"Error: quota exceeded, docs say"}}"#;
        let stream = format!("{prose}\n{ok}\n");
        let turns =
            r#"{"type":"result","subtype":"error_max_turns","is_error":true,"total_cost_usd":1.5}"#;
        let quota = "{\n  \"type\": \"result\",\n  \"is_error\": true,\n  \"result\": \"Claude usage limit reached|1760000000\"\n}";
        let quota_prose = quota.replace("true", "false");
        let timed_out = RunExit {
            code: None,
            signal: Some(9),
            timed_out: true,
        };
        let killed = RunExit {
            signal: Some(15),
            ..RunExit::default()
        };
        let trace =
            "Traceback (most recent call last):\nModuleNotFoundError: No module named 'kodo'\n\n";
        let (c0, c1, c2, c137) = (code(0), code(1), code(2), code(137));
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("timeout beats everything", &timed_out, &question, "", Timeout, "timeout", Some(0.05)),
            ("cp:question", &c0, &question, "", AwaitingInput, "awaiting_input", Some(0.05)),
            ("claude json success", &c0, ok, "", Success, "", Some(0.0123)),
            // stream-json: the last result line decides; assistant prose never counts.
            ("claude stream-json", &c0, &stream, "", Success, "", Some(0.0123)),
            ("claude max turns", &c0, turns, "", Error, "agent_error", Some(1.5)),
            ("claude pretty json quota", &c1, quota, "", CapacityExhausted, "capacity_exhausted", None),
            ("quota text in successful result", &c0, &quota_prose, "", Success, "", None),
            ("oom", &c137, "", "bash: fork: Cannot allocate memory\n", Error, "oom", None),
            ("missing module", &c1, "", trace, Error, "dependency_missing", None),
            ("kodo exit 2", &c2, "", "", Partial, "partial_run", None),
            ("signal", &killed, "", "", Error, "agent_error", None),
            ("overloaded", &c1, "", "API Error: 529 Overloaded", Error, "model_error", None),
            ("context", &c1, "context_length_exceeded", "", Error, "context_limit", None),
            // A generic agent error is not capacity exhaustion.
            ("generic error", &c1, "[  3.0s] ⚠️  [orchestrator] Claude Code error: None", "",
             Error, "agent_error", None),
            ("quota error on stderr", &c0, "ok", "Error: insufficient_quota (key)", CapacityExhausted,
             "capacity_exhausted", None),
            ("failed stage line", &c0, "  - Stage 1: Build — Payment required", "", CapacityExhausted,
             "capacity_exhausted", None),
            ("quota in prose", &c0, "- the run hit `quota exceeded` yesterday", "", Success, "", None),
        ];
        for (what, exit, out, err, class, blocked, cost) in cases {
            let c = classify(exit, out, err);
            assert_eq!(
                (c.class, c.blocked_classification, c.cost_usd),
                (*class, *blocked, *cost),
                "{what}: {c:?}"
            );
            assert_eq!(c.capacity_related, *class == CapacityExhausted, "{what}");
            assert_eq!(c.question.is_some(), *class == AwaitingInput, "{what}");
        }
        let reason = |exit: &RunExit, out: &str, err: &str| classify(exit, out, err).reason;
        assert_eq!(
            classify(&c0, &question, "").question.as_deref(),
            Some("Which database\nshould I use?")
        );
        let oom = reason(&c137, "", "bash: fork: Cannot allocate memory\n");
        assert_eq!(
            oom,
            "agent failed (exit code 137): bash: fork: Cannot allocate memory"
        );
        assert!(reason(&c1, "", trace).ends_with("No module named 'kodo'"));
        assert!(reason(&killed, "", "").contains("signal 15"));
        assert!(reason(&c0, turns, "").contains("error_max_turns"));
        let plain = read("agents/claude_code_extra_usage.stdout.txt");
        let c = classify(&c0, &plain, "");
        assert_eq!(
            (c.class, c.cost_usd, c.capacity_related),
            (CapacityExhausted, None, true)
        );
        assert!(
            c.reason
                .ends_with("You're out of extra usage · resets 4:20am"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            strip_ansi("\x1b[2m[ 1.0s]\x1b[0m x\x1b[36;1my"),
            "[ 1.0s] xy"
        );
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed(_)));
        assert_eq!(
            extract_cost_usd("Done: 3 cycles, 3 exchanges, $0.0000, 11s"),
            Some(0.0)
        );
        assert_eq!(
            extract_cost_usd("{\"cost_usd\":0.5}\n{\"total_cost_usd\":0.7}\n"),
            Some(0.7)
        );
        assert_eq!(extract_cost_usd("Total $3.81\nDone: fixed it for $5"), None);
        assert_eq!(RunClass::CapacityExhausted.as_str(), "capacity_exhausted");
        let json = serde_json::to_string(&RunClass::AwaitingInput).unwrap();
        assert_eq!(json, "\"awaiting_input\"");
        assert_eq!(clip(&"·".repeat(200)).chars().count(), EXCERPT_CHARS);
        assert_eq!(clip("short"), "short");
    }
}
