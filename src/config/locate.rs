//! Finds where a key path (`repos.demo.clone_url`) sits in YAML text, so checks made after
//! parsing can still point at file:line:column.

/// Returns the 1-based (line, column) of the deepest key of `path` that exists; (1, 1) if
/// not even the first does. Block-style YAML only, which is what config files use.
pub fn locate(text: &str, path: &[&str]) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = (1, 1);
    let mut start = 0;
    let mut parent_indent: isize = -1;
    for key in path {
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent {
                break;
            }
            let item = trimmed.trim_start_matches("- ");
            let item_indent = indent + (trimmed.len() - item.len()) as isize;
            if key_matches(item, key) {
                hit = Some((index, item_indent));
                break;
            }
        }
        let Some((index, indent)) = hit else { break };
        found = (index + 1, indent as usize + 1);
        start = index + 1;
        parent_indent = indent;
    }
    found
}

fn key_matches(item: &str, key: &str) -> bool {
    let unquoted = item
        .strip_prefix('"')
        .and_then(|r| r.strip_prefix(key)?.strip_prefix('"'))
        .or_else(|| {
            item.strip_prefix('\'')
                .and_then(|r| r.strip_prefix(key)?.strip_prefix('\''))
        })
        .or_else(|| item.strip_prefix(key));
    unquoted.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "board:\n  backend: local\nrepos:\n  demo:\n    clone_url: x\n    default_branch: main\n  other:\n    clone_url: y\nagent:\n  backend: command\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(locate(TEXT, &["repos", "demo", "default_branch"]), (6, 5));
        assert_eq!(locate(TEXT, &["repos", "other", "clone_url"]), (8, 5));
        assert_eq!(locate(TEXT, &["agent"]), (9, 1));
    }

    #[test]
    fn falls_back_to_the_deepest_existing_key() {
        assert_eq!(locate(TEXT, &["agent", "command"]), (9, 1));
        assert_eq!(locate(TEXT, &["nothing"]), (1, 1));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(locate(TEXT, &["repos", "demo", "backend"]), (4, 3));
    }
}
