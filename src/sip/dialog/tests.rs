//! Dialog tests: both constructors, route sets (loose and strict), CSeq rules, ACK for 2xx,
//! target refresh, and DialogSet lookup for requests and responses in both directions.

use bytes::Bytes;

use super::*;
use crate::sip::message::{Response, Via};

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.to_owned())).unwrap()
}

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2\r\n\
    Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\r\n\
    Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKuac\r\n\
    Max-Forwards: 68\r\n\
    Record-Route: <sip:p2.example.com;lr>\r\n\
    Record-Route: <sip:p1.example.com;lr>\r\n\
    From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
    To: Bob <sip:bob@biloxi.example.com>\r\n\
    Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
    CSeq: 314159 INVITE\r\n\
    Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
    Content-Length: 0\r\n\r\n";

fn ok_for(invite: &SipMessage, to_tag: &str) -> SipMessage {
    Response::for_request(invite, 200, "OK")
        .to_tag(to_tag)
        .header("Record-Route", "<sip:p2.example.com;lr>")
        .header("Record-Route", "<sip:p1.example.com;lr>")
        .header("Contact", "<sip:bob@192.0.2.4>")
        .build()
        .unwrap()
}

fn with_via(mut b: MessageBuilder) -> SipMessage {
    b.prepend_via(&Via::new("UDP", "127.0.0.1", Some(5060), "z9hG4bKtest"));
    b.build().unwrap()
}

fn uas_dialog() -> Dialog {
    Dialog::from_uas(&parse(INVITE), "a6c85cf", Uri::parse("sip:bob@192.0.2.4").unwrap()).unwrap()
}

fn uac_dialog() -> Dialog {
    let invite = parse(INVITE);
    Dialog::from_uac(&invite, &ok_for(&invite, "a6c85cf")).unwrap()
}

#[test]
fn uas_constructor() {
    let d = uas_dialog();
    assert_eq!(d.id.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
    assert_eq!(d.id.local_tag, "a6c85cf");
    assert_eq!(d.id.remote_tag, "1928301774");
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.remote_seq, Some(314159));
    assert_eq!(d.local_seq, None);
    assert_eq!(d.remote_target.to_string(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(d.local_uri.uri.to_string(), "sip:bob@biloxi.example.com");
    assert_eq!(d.remote_uri.uri.to_string(), "sip:alice@atlanta.example.com");
    assert_eq!(d.remote_uri.tag(), None, "tags live in the id only");
    let routes: Vec<String> = d.route_set.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
    assert!(!d.secure);

    let sips = parse(
        &INVITE.replace("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sips:bob@biloxi.example.com SIP/2.0"),
    );
    let d = Dialog::from_uas(&sips, "t", Uri::parse("sips:bob@192.0.2.4").unwrap()).unwrap();
    assert!(d.secure);

    let no_contact = parse(&INVITE.replace("Contact: <sip:alice@pc33.atlanta.example.com>\r\n", ""));
    let err = Dialog::from_uas(&no_contact, "t", Uri::parse("sip:b@h").unwrap()).unwrap_err();
    assert_eq!(err, DialogError::MissingContact);
    assert_eq!(err.status_code(), 400);
}

#[test]
fn uac_constructor_reverses_record_route() {
    let d = uac_dialog();
    assert_eq!(d.id.local_tag, "1928301774");
    assert_eq!(d.id.remote_tag, "a6c85cf");
    assert_eq!(d.local_seq, Some(314159));
    assert_eq!(d.remote_seq, None);
    assert_eq!(d.remote_target.to_string(), "sip:bob@192.0.2.4");
    assert_eq!(d.local_contact.as_ref().unwrap().to_string(), "sip:alice@pc33.atlanta.example.com");
    let routes: Vec<String> = d.route_set.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
}

#[test]
fn uac_early_dialog_and_invalid_responses() {
    let invite = parse(INVITE);
    let ringing = Response::for_request(&invite, 180, "Ringing")
        .to_tag("early1")
        .header("Contact", "<sip:bob@192.0.2.4>")
        .build()
        .unwrap();
    let mut d = Dialog::from_uac(&invite, &ringing).unwrap();
    assert_eq!(d.state, DialogState::Early);
    assert!(d.route_set.is_empty());
    // The 2xx confirms it and recomputes the route set.
    d.handle_remote_response(&ok_for(&invite, "early1")).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set.len(), 2);
    assert_eq!(d.route_set[0].uri.host, "p1.example.com");

    let trying = Response::for_request(&invite, 100, "Trying").build().unwrap();
    assert_eq!(Dialog::from_uac(&invite, &trying), Err(DialogError::NotDialogCreating(100)));
    let untagged =
        Response::for_request(&invite, 180, "Ringing").header("Contact", "<sip:bob@192.0.2.4>").build().unwrap();
    assert_eq!(Dialog::from_uac(&invite, &untagged), Err(DialogError::MissingRemoteTag));
}

#[test]
fn in_dialog_request_loose_routing_and_cseq() {
    let mut d = uac_dialog();
    let bye = with_via(d.create_request(Method::Bye).unwrap());
    assert_eq!(bye.method(), Some(Method::Bye));
    assert_eq!(bye.request_uri_str(), Some("sip:bob@192.0.2.4"));
    assert_eq!(bye.cseq().unwrap().seq, 314160);
    assert_eq!(bye.cseq().unwrap().method, Method::Bye);
    assert_eq!(bye.call_id().unwrap(), d.id.call_id);
    assert_eq!(bye.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(bye.to().unwrap().tag(), Some("a6c85cf"));
    assert_eq!(bye.from().unwrap().display.as_deref(), Some("Alice"));
    let routes: Vec<String> = bye.route().unwrap().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert!(bye.header("Contact").is_none(), "BYE is no target refresh");
    assert_eq!(d.local_seq, Some(314160));

    let reinvite = with_via(d.create_request(Method::Invite).unwrap());
    assert_eq!(reinvite.cseq().unwrap().seq, 314161);
    assert_eq!(reinvite.header("Contact"), Some("<sip:alice@pc33.atlanta.example.com>"));
    // The UAS's first request starts at 1.
    let mut uas = uas_dialog();
    let info = with_via(uas.create_request(Method::Info).unwrap());
    assert_eq!(info.cseq().unwrap().seq, 1);
    assert_eq!(info.request_uri_str(), Some("sip:alice@pc33.atlanta.example.com"));
    assert_eq!(info.from().unwrap().tag(), Some("a6c85cf"));
    assert_eq!(info.to().unwrap().tag(), Some("1928301774"));
}

#[test]
fn strict_routing() {
    let mut d = uac_dialog();
    d.route_set =
        vec![NameAddr::parse("<sip:strict.example.com>").unwrap(), NameAddr::parse("<sip:p2.example.com;lr>").unwrap()];
    let bye = with_via(d.create_request(Method::Bye).unwrap());
    assert_eq!(bye.request_uri_str(), Some("sip:strict.example.com"));
    let routes: Vec<String> = bye.route().unwrap().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p2.example.com;lr", "sip:bob@192.0.2.4"]);
}

#[test]
fn ack_for_2xx_keeps_invite_cseq() {
    let invite = parse(INVITE);
    let ok = ok_for(&invite, "a6c85cf");
    let mut d = Dialog::from_uac(&invite, &ok).unwrap();
    let ack = with_via(d.create_ack(&ok).unwrap());
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, 314159);
    assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.request_uri_str(), Some("sip:bob@192.0.2.4"));
    assert_eq!(ack.route().unwrap().len(), 2);
    assert_eq!(d.local_seq, Some(314159));
    let bye = with_via(d.create_request(Method::Bye).unwrap());
    assert_eq!(bye.cseq().unwrap().seq, 314160);
}

#[test]
fn remote_cseq_rules_and_target_refresh() {
    let mut uac = uac_dialog();
    let mut uas = uas_dialog();
    // UAS -> UAC in-dialog requests.
    let first = with_via(uas.create_request(Method::Info).unwrap());
    let second = with_via(uas.create_request(Method::Info).unwrap());
    uac.handle_remote_request(&second).unwrap();
    assert_eq!(uac.remote_seq, Some(2));
    let err = uac.handle_remote_request(&first).unwrap_err();
    assert_eq!(err, DialogError::CSeqOutOfOrder { got: 1, last: 2 });
    assert_eq!(err.status_code(), 500);
    // Target refresh: a re-INVITE with a new Contact moves the remote target.
    uas.local_contact = Some(Uri::parse("sip:bob@198.51.100.7:5070").unwrap());
    let reinvite = with_via(uas.create_request(Method::Invite).unwrap());
    uac.handle_remote_request(&reinvite).unwrap();
    assert_eq!(uac.remote_target.to_string(), "sip:bob@198.51.100.7:5070");
    assert_eq!(uac.remote_seq, Some(3));
    // UAC -> UAS: the BYE is in order (INVITE had 314159).
    let bye = with_via(uac.create_request(Method::Bye).unwrap());
    uas.handle_remote_request(&bye).unwrap();
    assert_eq!(uas.remote_seq, Some(314160));
    // A request from another dialog is refused with 481.
    let mut other = uas_dialog();
    other.id.local_tag = "zzz".to_owned();
    assert_eq!(other.handle_remote_request(&bye).unwrap_err().status_code(), 481);
}

#[test]
fn dialog_set_lookup_both_directions() {
    let mut uac_set = DialogSet::new();
    let mut uas_set = DialogSet::new();
    let mut uac = uac_dialog();
    let mut uas = uas_dialog();
    let bye_from_uac = with_via(uac.create_request(Method::Bye).unwrap());
    let info_from_uas = with_via(uas.create_request(Method::Info).unwrap());
    uac_set.insert(uac.clone());
    uas_set.insert(uas.clone());
    assert_eq!(uas_set.find_incoming(&bye_from_uac).map(|d| &d.id), Some(&uas.id));
    assert_eq!(uac_set.find_incoming(&info_from_uas).map(|d| &d.id), Some(&uac.id));
    // A response to the BYE, as seen by the UAC.
    let bye_ok = Response::for_request(&bye_from_uac, 200, "OK").build().unwrap();
    assert_eq!(uac_set.find_incoming(&bye_ok).map(|d| &d.id), Some(&uac.id));
    assert_eq!(DialogId::for_outgoing(&bye_from_uac), Some(uac.id.clone()));
    assert!(uac_set.find_incoming(&parse(INVITE)).is_none(), "no To tag: no dialog");
    uac_set.find_incoming_mut(&info_from_uas).unwrap().handle_remote_request(&info_from_uas).unwrap();
    assert_eq!(uac_set.get(&uac.id).unwrap().remote_seq, Some(1));
    assert_eq!(uac_set.len(), 1);
    assert!(uac_set.remove(&uac.id).is_some());
    assert!(uac_set.is_empty());
}

#[test]
fn tags_are_random() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let a = new_tag(&mut rng);
    assert_eq!(a.len(), 16);
    assert_ne!(a, new_tag(&mut rng));
}
