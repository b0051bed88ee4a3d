//! The management console (TCP 50100).

/// Placeholder.
#[derive(Debug)]
pub struct ManagementService;
