use super::*;

fn calendar() -> Calendar {
    Calendar::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries")).unwrap()
}

fn ts(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The statuses of a real 领导留言板 (待回复 / 办理中 / 已办理), 5 working days.
fn rule() -> ReplyRule {
    ReplyRule {
        replied: vec!["已办理".into(), "已回复".into()],
        within: Window::Workdays(5),
    }
}

fn post(posted_at: &str) -> TrackedPost {
    TrackedPost::start(
        Post {
            source: "board",
            key: "25489118",
            title: "小区污水井堵塞",
            url: Some("http://127.0.0.1/thread/25489118"),
            unit: Some("市住建局"),
            posted_at: ts(posted_at),
        },
        &rule(),
        &calendar(),
    )
    .unwrap()
}

fn listed(status: &str, reply_date: Option<&str>) -> Observation {
    Observation::Listed {
        status: status.into(),
        reply_date: reply_date.map(ts),
    }
}

#[test]
fn status_texts_that_mean_answered() {
    let rule = rule();
    for (status, answered) in [
        ("已办理", true),
        (" [已回复] ", true),
        ("待回复", false),
        ("办理中", false),
        ("", false),
    ] {
        assert_eq!(rule.is_replied(status), answered, "{status:?}");
    }
}

#[test]
fn due_is_the_fifth_working_day_after_posting() {
    // Friday 18:00 before 国庆 2025: Sun 09-28 (make-up), 09-29, 09-30, then 10-09, 10-10.
    assert_eq!(
        post("2025-09-26T18:00:00+08:00").due_at,
        ts("2025-10-11T00:00:00+08:00")
    );
    let err = TrackedPost::start(
        Post {
            source: "board",
            key: "1",
            title: "t",
            url: None,
            unit: None,
            posted_at: ts("2026-12-29T10:00:00+08:00"),
        },
        &rule(),
        &calendar(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("2027"), "{err}");
}

#[test]
fn a_post_moves_through_its_states() {
    // (observation at, what the board shows, change, state afterwards)
    let mut p = post("2026-11-30T09:00:00+08:00"); // Monday; due Mon 12-07 24:00
    assert_eq!(p.due_at, ts("2026-12-08T00:00:00+08:00"));
    let steps = [
        (
            "2026-12-01T09:00:00+08:00",
            listed("待回复", None),
            None,
            ReplyState::Pending,
        ),
        (
            "2026-12-02T09:00:00+08:00",
            Observation::Missing,
            Some(Change::Removed),
            ReplyState::Removed,
        ),
        (
            "2026-12-02T10:00:00+08:00",
            Observation::Missing,
            None,
            ReplyState::Removed,
        ),
        (
            "2026-12-03T09:00:00+08:00",
            listed("办理中", None),
            Some(Change::Reappeared),
            ReplyState::Pending,
        ),
        (
            "2026-12-08T09:00:00+08:00",
            listed("办理中", None),
            None,
            ReplyState::Overdue,
        ),
        (
            "2026-12-09T09:00:00+08:00",
            listed("已办理", Some("2026-12-08T16:00:00+08:00")),
            Some(Change::Replied { on_time: false }),
            ReplyState::Replied,
        ),
        (
            "2026-12-10T09:00:00+08:00",
            Observation::Missing,
            None,
            ReplyState::Replied,
        ),
    ];
    for (at, seen, change, state) in steps {
        assert_eq!(p.observe(&seen, &rule(), ts(at)), change, "{at}");
        assert_eq!(p.state(ts(at)), state, "{at}");
    }
    assert_eq!(p.replied_at, Some(ts("2026-12-08T16:00:00+08:00")));
    assert_eq!(p.on_time(), Some(false));
}

#[test]
fn without_a_reply_date_the_reply_counts_when_seen() {
    let mut p = post("2026-11-30T09:00:00+08:00");
    let at = ts("2026-12-07T23:00:00+08:00");
    assert_eq!(
        p.observe(&listed("已回复", None), &rule(), at),
        Some(Change::Replied { on_time: true })
    );
    assert_eq!(p.replied_at, Some(at));
}

#[test]
fn rates_per_set_of_posts() {
    let now = ts("2026-12-09T12:00:00+08:00");
    let on_time = {
        let mut p = post("2026-11-30T09:00:00+08:00");
        p.replied_at = Some(ts("2026-12-03T10:00:00+08:00"));
        p
    };
    let late = {
        let mut p = post("2026-11-30T09:00:00+08:00");
        p.replied_at = Some(ts("2026-12-08T10:00:00+08:00"));
        p
    };
    let overdue = post("2026-11-30T09:00:00+08:00");
    let pending = post("2026-12-08T09:00:00+08:00");
    let removed = {
        let mut p = post("2026-11-30T09:00:00+08:00");
        p.removed_at = Some(ts("2026-12-01T10:00:00+08:00"));
        p
    };
    let all = [on_time, late, overdue, pending, removed];
    let rates = Rates::of(&all, now);
    assert_eq!(
        rates,
        Rates {
            posts: 4,
            replied: 2,
            on_time: 1,
            overdue: 1
        }
    );
    assert_eq!(rates.reply_rate(), Some(0.5));
    assert_eq!(rates.on_time_rate(), Some(1.0 / 3.0));
    assert_eq!(Rates::of(&[], now).reply_rate(), None);
}

#[test]
fn only_a_post_within_the_page_is_removed_when_missing() {
    let oldest = Some(ts("2026-06-10T00:00:00Z"));
    for (posted, shown, removed) in [
        ("2026-06-11T00:00:00Z", oldest, true),
        ("2026-06-10T00:00:00Z", oldest, true),
        // Older than everything the page shows: paged out, not removed.
        ("2026-06-09T23:59:59Z", oldest, false),
        // An empty page is no evidence.
        ("2026-06-11T00:00:00Z", None, false),
    ] {
        assert_eq!(
            missing_means_removed(ts(posted), shown),
            removed,
            "{posted} {shown:?}"
        );
    }
}

#[test]
fn overdue_notices_stop_at_the_cap() {
    let post = post("2025-09-26T10:00:00Z");
    let due = post.due_at;
    let minutes = |m: i64| due + chrono::Duration::minutes(m);
    let mut policy = crate::config::Policy::default(); // remind_at [0.6, 0.8], 1h, max 3
    for (max, now, expected) in [
        // Before the first reminder: the 60 % reminder is scheduled.
        (3, post.posted_at, Some(0)),
        // Overdue notice 1 (step 2) fires at the due time.
        (3, minutes(30), Some(2)),
        // Overdue notice 3 (step 4) is the last one.
        (3, minutes(150), Some(4)),
        // Notice 4 would exceed the cap: nothing more is scheduled.
        (3, minutes(180), None),
        // A post found long overdue (first poll of a board): digest only, no mail.
        (3, minutes(60 * 24 * 30), None),
        // Cap 0: reminders still go, no overdue notice at all.
        (0, post.posted_at, Some(0)),
        (0, due, None),
    ] {
        policy.reply_overdue_max = max;
        assert_eq!(
            crate::clock::replies::next_step(&post, &policy, now).map(|(_, step)| step),
            expected,
            "max {max}, {now}"
        );
    }
}
