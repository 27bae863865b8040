//! fnmatch-style patterns (`*` and `?`, `*` crossing `/` as Python's fnmatch does), for
//! `allowed_base_branches` and `allowed_paths`.

pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Empty list = any branch (original-behaviour §10.2 case 14).
pub fn branch_allowed(branch: &str, allowed: &[String]) -> bool {
    allowed.is_empty() || allowed.iter().any(|p| fnmatch(p, branch))
}

/// Normalises a repo-relative path: backslashes to `/`, `./` prefixes and `..` segments
/// resolved. Unlike the original, a leading dot of a dotfile is kept (`.gitignore`).
pub fn normalise_path(path: &str) -> String {
    let unified = path.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Changed files outside `allowed` (sorted, unique). Empty `allowed` = unrestricted.
/// A pattern matches by fnmatch or as a directory prefix (`src/` and `src` both cover
/// `src/foo.py`).
pub fn scope_violations(changed: &[String], allowed: &[String]) -> Vec<String> {
    if allowed.is_empty() {
        return Vec::new();
    }
    let patterns: Vec<String> = allowed.iter().map(|p| normalise_path(p.trim())).collect();
    let mut out: Vec<String> = changed
        .iter()
        .filter(|raw| {
            // A path that climbs out of its directory is a violation whatever the patterns say.
            let climbs = raw.split(['/', '\\']).any(|s| s == "..");
            let path = normalise_path(raw);
            climbs
                || !patterns
                    .iter()
                    .any(|p| fnmatch(p, &path) || path.starts_with(&format!("{p}/")))
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn branch_allowed_cases_from_the_original() {
        assert!(branch_allowed("anything", &[]));
        assert!(branch_allowed("main", &v(&["main", "develop"])));
        assert!(branch_allowed("feature/foo", &v(&["feature/*"])));
        assert!(!branch_allowed("hotfix/bar", &v(&["main", "develop"])));
        assert!(branch_allowed("release/v2.0", &v(&["*"])));
    }

    #[test]
    fn scope_cases_from_the_original() {
        assert!(
            scope_violations(
                &v(&["src/workflow/task.py", "tools/audit/report.py"]),
                &v(&["src/workflow/", "tools/audit/"])
            )
            .is_empty()
        );
        assert_eq!(
            scope_violations(
                &v(&["src/workflow/task.py", "deployment/docker-compose.yml"]),
                &v(&["src/workflow/"])
            ),
            v(&["deployment/docker-compose.yml"])
        );
        assert_eq!(
            scope_violations(&v(&["src/../etc/passwd"]), &v(&["src/"])),
            v(&["src/../etc/passwd"])
        );
        assert!(scope_violations(&v(&["src/foo.py"]), &v(&["src"])).is_empty());
    }

    #[test]
    fn paths_keep_dotfiles() {
        assert_eq!(normalise_path("./src/main.py"), "src/main.py");
        assert_eq!(
            normalise_path("src\\utils\\helper.py"),
            "src/utils/helper.py"
        );
        assert_eq!(normalise_path(".gitignore"), ".gitignore");
    }
}
