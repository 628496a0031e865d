//! Unit tests for the registrar: RFC 3261 §10.3 rules, lookups, timer-driven expiry, events.

use super::*;

fn src() -> SocketAddr {
    "127.0.0.1:5062".parse().unwrap()
}

fn req(
    user: &str,
    contacts: &[(&str, Option<u32>)],
    expires: Option<u32>,
    call_id: &str,
    cseq: u32,
) -> RegisterRequest {
    RegisterRequest {
        user: user.into(),
        contacts: contacts.iter().map(|(u, e)| ContactParam { uri: (*u).into(), expires: *e, q: None }).collect(),
        wildcard: false,
        expires,
        call_id: call_id.into(),
        cseq,
        source: src(),
        transport: Transport::Udp,
    }
}

fn events(r: &mut Registrar) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

const C1: &str = "sip:1001@127.0.0.1:5062";
const C2: &str = "sip:1001@127.0.0.1:5064;transport=tcp";

#[test]
fn register_lookup_and_events() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    assert!(!r.is_registered(t0, "1001"));
    let views = r.handle_register(t0, req("1001", &[(C1, None)], Some(600), "cid1", 1)).unwrap();
    assert_eq!(views, vec![BindingView { contact_uri: C1.into(), expires_secs: 600, q: None }]);
    assert_eq!(views[0].to_contact_header(), format!("<{C1}>;expires=600"));
    assert!(r.is_registered(t0, "1001"));
    let b = r.lookup(t0, "1001").unwrap();
    assert_eq!(b.contact_uri, C1);
    assert_eq!(b.source, src());
    assert_eq!(b.transport, Transport::Udp);
    assert_eq!(b.expires_at, t0 + Duration::from_secs(600));
    assert_eq!(b.registered_at, t0);
    assert_eq!(events(&mut r), vec![RegistrarEvent::Registered { user: "1001".into(), contact: C1.into() }]);
    assert_eq!(r.registered_users(t0).collect::<Vec<_>>(), vec!["1001"]);

    // refresh with higher CSeq
    let t1 = t0 + Duration::from_secs(100);
    r.handle_register(t1, req("1001", &[(C1, None)], Some(600), "cid1", 2)).unwrap();
    let b = r.lookup(t1, "1001").unwrap();
    assert_eq!(b.registered_at, t0);
    assert_eq!(b.refreshed_at, t1);
    assert_eq!(b.expires_at, t1 + Duration::from_secs(600));
    assert_eq!(events(&mut r), vec![RegistrarEvent::Refreshed { user: "1001".into(), contact: C1.into() }]);
}

#[test]
fn default_and_capped_and_per_contact_expiry() {
    let t0 = Instant::now();
    let cfg = RegistrarConfig { min_expires: 60, max_expires: 3600, default_expires: 1800, max_bindings_per_user: 10 };
    let mut r = Registrar::new(cfg);
    let v = r.handle_register(t0, req("a", &[(C1, None)], None, "c", 1)).unwrap();
    assert_eq!(v[0].expires_secs, 1800);
    let v = r.handle_register(t0, req("b", &[(C1, None)], Some(86400), "c", 1)).unwrap();
    assert_eq!(v[0].expires_secs, 3600);
    // contact parameter overrides the header
    let v = r.handle_register(t0, req("c", &[(C1, Some(120))], Some(3000), "c", 1)).unwrap();
    assert_eq!(v[0].expires_secs, 120);
}

#[test]
fn interval_too_brief_changes_nothing() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r.handle_register(t0, req("1001", &[(C1, None)], Some(30), "c", 1)).unwrap_err();
    assert_eq!(err, RegistrarError::IntervalTooBrief { min_expires: 60 });
    assert_eq!(err.status_code(), 423);
    assert_eq!(err.min_expires(), Some(60));
    assert!(!r.is_registered(t0, "1001"));
    // one good and one too-brief contact: the whole request fails
    let err = r.handle_register(t0, req("1001", &[(C1, Some(600)), (C2, Some(5))], None, "c", 2)).unwrap_err();
    assert_eq!(err.status_code(), 423);
    assert!(!r.is_registered(t0, "1001"));
    assert!(events(&mut r).is_empty());
}

#[test]
fn expires_zero_removes() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None), (C2, None)], Some(600), "c", 1)).unwrap();
    events(&mut r);
    let v = r.handle_register(t0, req("1001", &[(C1, Some(0))], Some(600), "c", 2)).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].contact_uri, C2);
    assert_eq!(
        events(&mut r),
        vec![RegistrarEvent::Unregistered { user: "1001".into(), contact: C1.into(), remaining: 1 }]
    );
    let v = r.handle_register(t0, req("1001", &[(C2, None)], Some(0), "c", 3)).unwrap();
    assert!(v.is_empty());
    assert!(!r.is_registered(t0, "1001"));
    assert_eq!(r.poll_timeout(), None);
    // removing an unknown contact is fine
    assert!(r.handle_register(t0, req("1001", &[(C1, None)], Some(0), "c", 4)).unwrap().is_empty());
}

#[test]
fn wildcard_rules() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None), (C2, None)], Some(600), "c", 1)).unwrap();
    events(&mut r);

    let mut bad = req("1001", &[], Some(600), "c", 2);
    bad.wildcard = true;
    assert_eq!(r.handle_register(t0, bad.clone()).unwrap_err().status_code(), 400);
    bad.expires = None;
    assert_eq!(r.handle_register(t0, bad).unwrap_err(), RegistrarError::InvalidWildcard);
    let mut bad = req("1001", &[(C1, None)], Some(0), "c", 2);
    bad.wildcard = true;
    assert_eq!(r.handle_register(t0, bad).unwrap_err(), RegistrarError::InvalidWildcard);

    // same Call-ID, stale CSeq: out of order
    let mut stale = req("1001", &[], Some(0), "c", 1);
    stale.wildcard = true;
    assert_eq!(r.handle_register(t0, stale).unwrap_err().status_code(), 500);
    assert_eq!(r.bindings(t0, "1001").len(), 2);

    let mut good = req("1001", &[], Some(0), "other-call-id", 1);
    good.wildcard = true;
    assert!(r.handle_register(t0, good).unwrap().is_empty());
    assert!(!r.is_registered(t0, "1001"));
    let ev = events(&mut r);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| matches!(e, RegistrarEvent::Unregistered { remaining: 0, .. })));
}

#[test]
fn out_of_order_cseq_is_500_and_atomic() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None)], Some(600), "c", 5)).unwrap();
    let err = r.handle_register(t0, req("1001", &[(C1, None)], Some(600), "c", 5)).unwrap_err();
    assert_eq!(err, RegistrarError::OutOfOrder);
    assert_eq!(err.status_code(), 500);
    // new contact + stale existing contact: nothing applied
    let t1 = t0 + Duration::from_secs(10);
    let err = r.handle_register(t1, req("1001", &[(C2, None), (C1, None)], Some(600), "c", 4)).unwrap_err();
    assert_eq!(err.status_code(), 500);
    assert_eq!(r.bindings(t1, "1001").len(), 1);
    // a different Call-ID (phone rebooted) may use any CSeq
    r.handle_register(t1, req("1001", &[(C1, None)], Some(600), "new", 1)).unwrap();
    assert_eq!(r.lookup(t1, "1001").unwrap().call_id, "new");
}

#[test]
fn lookup_prefers_most_recent_and_bindings_sorted_by_q() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None)], Some(600), "a", 1)).unwrap();
    let t1 = t0 + Duration::from_secs(5);
    let mut second = req("1001", &[(C2, None)], Some(600), "b", 1);
    second.transport = Transport::Tcp;
    second.contacts[0].q = Some(0.5);
    r.handle_register(t1, second).unwrap();
    let b = r.lookup(t1, "1001").unwrap();
    assert_eq!(b.contact_uri, C2);
    assert_eq!(b.transport, Transport::Tcp);
    let all = r.bindings(t1, "1001");
    assert_eq!(all[0].contact_uri, C1);
    assert_eq!(all[1].contact_uri, C2);
    assert_eq!(r.binding_views(t1, "1001").len(), 2);
    assert!(r.handle_register(t1, req("1001", &[], None, "q", 1)).unwrap().len() == 2);
}

#[test]
fn expiry_via_timers() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None)], Some(60), "a", 1)).unwrap();
    r.handle_register(t0, req("1001", &[(C2, None)], Some(120), "b", 1)).unwrap();
    r.handle_register(t0, req("2002", &[(C1, None)], Some(300), "c", 1)).unwrap();
    events(&mut r);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));

    // not yet due: nothing happens
    r.handle_timeout(t0 + Duration::from_secs(59));
    assert!(events(&mut r).is_empty());

    let t60 = t0 + Duration::from_secs(60);
    assert_eq!(r.lookup(t60, "1001").unwrap().contact_uri, C2, "lapsed binding is not returned");
    r.handle_timeout(t60);
    assert_eq!(events(&mut r), vec![RegistrarEvent::Expired { user: "1001".into(), contact: C1.into(), remaining: 1 }]);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    r.handle_timeout(t0 + Duration::from_secs(120));
    assert_eq!(events(&mut r), vec![RegistrarEvent::Expired { user: "1001".into(), contact: C2.into(), remaining: 0 }]);
    assert!(!r.is_registered(t0 + Duration::from_secs(120), "1001"));
    assert!(r.is_registered(t0 + Duration::from_secs(120), "2002"));
    r.handle_timeout(t0 + Duration::from_secs(1000));
    assert_eq!(events(&mut r).len(), 1);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn lapsed_binding_is_replaced_on_register() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[(C1, None)], Some(60), "a", 1)).unwrap();
    events(&mut r);
    let t1 = t0 + Duration::from_secs(61);
    r.handle_register(t1, req("1001", &[(C1, None)], Some(60), "a", 1)).unwrap();
    assert_eq!(
        events(&mut r),
        vec![
            RegistrarEvent::Expired { user: "1001".into(), contact: C1.into(), remaining: 0 },
            RegistrarEvent::Registered { user: "1001".into(), contact: C1.into() },
        ]
    );
    assert_eq!(r.lookup(t1, "1001").unwrap().registered_at, t1);
}

#[test]
fn too_many_bindings() {
    let t0 = Instant::now();
    let cfg = RegistrarConfig { max_bindings_per_user: 1, ..RegistrarConfig::default() };
    let mut r = Registrar::new(cfg);
    r.handle_register(t0, req("1001", &[(C1, None)], Some(600), "a", 1)).unwrap();
    let err = r.handle_register(t0, req("1001", &[(C2, None)], Some(600), "a", 2)).unwrap_err();
    assert_eq!(err.status_code(), 403);
    assert_eq!(r.bindings(t0, "1001").len(), 1);
}

#[test]
fn contact_match_is_case_insensitive_and_views_round_up() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(t0, req("1001", &[("sip:1001@HOST", None)], Some(600), "a", 1)).unwrap();
    r.handle_register(t0, req("1001", &[("sip:1001@host", None)], Some(600), "a", 2)).unwrap();
    assert_eq!(r.bindings(t0, "1001").len(), 1);
    let v = r.binding_views(t0 + Duration::from_millis(1500), "1001");
    assert_eq!(v[0].expires_secs, 599);
}
