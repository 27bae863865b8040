//! The seed's urgency score: priority label + title prefix boost + age in days.

/// Priority label weights (urgent=4, high=3, medium=2, low=1, none=0).
pub fn priority_weight(priority: Option<&str>) -> i64 {
    match priority.map(|p| p.trim().to_ascii_lowercase()).as_deref() {
        Some("urgent") => 4,
        Some("high") => 3,
        Some("medium") => 2,
        Some("low") => 1,
        _ => 0,
    }
}

/// Title prefix boosts: `[Regression]` +3, `[Systemic]` +2, `[Workspace]` +1.
pub fn title_boost(title: &str) -> i64 {
    let t = title.trim_start().to_ascii_lowercase();
    if t.starts_with("[regression]") {
        3
    } else if t.starts_with("[systemic]") {
        2
    } else if t.starts_with("[workspace]") {
        1
    } else {
        0
    }
}

/// Score without the age part.
pub fn static_score(priority: Option<&str>, title: &str) -> i64 {
    priority_weight(priority) + title_boost(title)
}

/// The score at `now` (unix seconds), with age counted in (fractional) days.
pub fn score_at(priority: Option<&str>, title: &str, created_at: i64, now: i64) -> f64 {
    static_score(priority, title) as f64 + (now - created_at).max(0) as f64 / 86400.0
}

/// A key whose order equals the order of `score_at` at every moment:
/// score·86400 − created_at. It does not depend on `now`, so the database can index it.
pub fn rank_key(priority: Option<&str>, title: &str, created_at: i64) -> i64 {
    static_score(priority, title) * 86400 - created_at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_prefix_outranks_plain_title() {
        let now = 1_000_000;
        assert!(
            score_at(None, "[Regression] CI broke after merge", now, now)
                > score_at(None, "Fix lint violations", now, now)
        );
    }

    #[test]
    fn high_priority_outranks_none_for_same_title() {
        assert!(rank_key(Some("high"), "Fix it", 100) > rank_key(None, "Fix it", 100));
    }

    #[test]
    fn age_adds_one_point_per_day() {
        let now = 10 * 86400;
        let old = score_at(Some("low"), "t", 0, now);
        let new = score_at(Some("medium"), "t", now, now);
        assert!(old > new, "ten days of age beat one priority step");
        assert!(rank_key(Some("low"), "t", 0) > rank_key(Some("medium"), "t", now));
    }

    #[test]
    fn rank_key_orders_like_score() {
        let now = 50 * 86400;
        let items = [
            (Some("urgent"), "a", 49 * 86400),
            (None, "[Systemic] b", 40 * 86400),
            (Some("low"), "[Workspace] c", 45 * 86400),
            (None, "d", 0),
        ];
        let mut by_score: Vec<_> = items.iter().collect();
        by_score.sort_by(|x, y| {
            score_at(y.0, y.1, y.2, now)
                .partial_cmp(&score_at(x.0, x.1, x.2, now))
                .unwrap()
        });
        let mut by_key: Vec<_> = items.iter().collect();
        by_key.sort_by_key(|x| std::cmp::Reverse(rank_key(x.0, x.1, x.2)));
        assert_eq!(by_score, by_key);
    }
}
