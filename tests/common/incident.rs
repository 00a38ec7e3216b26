//! A test incident shared by the delivery tests (mail and chat channels).

use std::collections::BTreeSet;

use chrono::Utc;
use yuqing::config::Policy;
use yuqing::model::{Deadline, Incident, Level, Milestone, PolicySnapshot, Status};

/// A new level III incident opened now, its response due in 47 hours.
pub fn incident(id: u64) -> Incident {
    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    Incident {
        id,
        title: format!("事件{id}：某镇企业拖欠工资引发聚集"),
        level: Level::III,
        detected_level: Level::III,
        status: Status::New,
        topics: vec!["wage_arrears".into()],
        unit: Some("市人社局".into()),
        places: vec![],
        local: true,
        event_at: now - hour,
        opened_at: now,
        updated_at: now,
        items: vec![],
        sources: BTreeSet::new(),
        terms: vec![],
        deadlines: vec![Deadline {
            milestone: Milestone::Response,
            due_at: now + hour * 47,
            met_at: None,
        }],
        policy: PolicySnapshot::from(&Policy::default()),
        merged_into: None,
        responses: Vec::new(),
        effect: None,
    }
}
