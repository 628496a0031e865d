//! Prometheus metric names and descriptions, in one place so dashboards and docs can rely on them.
//! Counters end in `_total`; gauges name a current quantity. Per-agent series are deliberately
//! absent (cardinality); agents are looked up through the HTTP API.

/// Calls with a live caller leg.
pub const CALLS_ACTIVE: &str = "meritline_calls_active";
/// Calls waiting in a queue for an agent.
pub const CALLS_QUEUED: &str = "meritline_calls_queued";
/// Calls offered by carriers, by outcome at the end.
pub const CALLS_TOTAL: &str = "meritline_calls_total";
/// SIP messages received and sent, labelled by `direction`, and `method` or `status`.
pub const SIP_MESSAGES: &str = "meritline_sip_messages_total";
/// Inbound SIP messages that could not be parsed, by `transport` and `action` (replied_400, dropped).
pub const SIP_PARSE_ERRORS: &str = "meritline_sip_parse_errors_total";
/// Live registrations (bindings) of agent phones.
pub const REGISTRATIONS: &str = "meritline_registrations";
/// REGISTER requests by `result`.
pub const REGISTER_REQUESTS: &str = "meritline_register_requests_total";

/// Registers the descriptions of the switch's own metrics with the installed recorder.
pub fn describe() {
    metrics::describe_gauge!(CALLS_ACTIVE, "Calls with a live caller leg");
    metrics::describe_gauge!(CALLS_QUEUED, "Calls waiting in a queue");
    metrics::describe_counter!(CALLS_TOTAL, "Carrier calls by outcome");
    metrics::describe_counter!(SIP_MESSAGES, "SIP messages by direction and method or status");
    metrics::describe_counter!(SIP_PARSE_ERRORS, "Inbound SIP messages that could not be parsed");
    metrics::describe_gauge!(REGISTRATIONS, "Live agent phone registrations");
    metrics::describe_counter!(REGISTER_REQUESTS, "REGISTER requests by result");
}
