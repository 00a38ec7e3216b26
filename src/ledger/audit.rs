//! Audit entries: who changed what, when and why.

use crate::model::{AuditEntry, IncidentId, Timestamp};

/// The name system changes are audited under.
pub const SYSTEM: &str = "system";

pub(super) fn entry(
    incident: IncidentId,
    at: Timestamp,
    by: &str,
    action: &str,
    detail: String,
    reason: Option<&str>,
) -> AuditEntry {
    AuditEntry {
        incident,
        at,
        by: by.to_string(),
        action: action.to_string(),
        detail,
        reason: reason.map(str::to_string),
    }
}
