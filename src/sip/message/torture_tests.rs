//! RFC 4475 SIP torture tests: every message of sections 3.1.1 (valid) and 3.1.2 (invalid),
//! plus the 3.2/3.3 messages, reproduced byte-exact from the RFC's bit-exact archive (CRLF line
//! ends written as `\r` + newline in the literals). Each test documents how Meritline treats
//! the message: valid ones parse and validate with the right key fields; invalid ones are
//! either rejected by `SipMessage::parse` or parse with the problem surfaced by the relevant
//! typed accessor / `validate()`, matching what the RFC says a receiver should do.

use bytes::Bytes;

use super::*;

#[rustfmt::skip]
mod rfc {
pub(super) const WSINV: &[u8] = b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r
TO :\r
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r
  ;\r
  tag = 98asjd8\r
MaX-fOrWaRdS: 0068\r
Call-ID: wsinv.ndaksdj@192.0.2.1\r
Content-Length   : 150\r
cseq: 0009\r
  INVITE\r
Via  : SIP  /   2.0\r
 /UDP\r
    192.0.2.2;branch=390skdjuw\r
s :\r
NewFangledHeader:   newfangled value\r
 continued newfangled value\r
UnknownHeaderWithUnusualValue: ;;,,;;,;\r
Content-Type: application/sdp\r
Route:\r
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r
v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r
  branch  =   z9hG4bK9ikj8  ,\r
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r
 z9hG4bK30239\r
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r
      newvalue ;\r
  secondparam ; q = 0.33\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.3\r
s=-\r
c=IN IP4 192.0.2.4\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const INTMETH: &[u8] = b"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r
To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!-.\r
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r
Max-Forwards: 255\r
extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r
Content-Length: 0\r
\r
";

pub(super) const ESC01: &[u8] = b"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r
To: sip:%75se%72@example.com\r
From: <sip:I%20have%20spaces@example.net>;tag=938\r
Max-Forwards: 87\r
i: esc01.239409asdfakjkn23onasd0-3234\r
CSeq: 234234 INVITE\r
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r
C: application/sdp\r
Contact:\r
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r
Content-Length: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const ESCNULL: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: sip:null-%00-null@example.com\r
From: sip:null-%00-null@example.com;tag=839923423\r
Max-Forwards: 70\r
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r
CSeq: 14398234 REGISTER\r
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r
Contact: <sip:%00@host5.example.com>\r
Contact: <sip:%00%00@host5.example.com>\r
L:0\r
\r
";

pub(super) const ESC02: &[u8] = b"RE%47IST%45R sip:registrar.example.com SIP/2.0\r
To: \"%Z%45\" <sip:resource@example.com>\r
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\r
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\r
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\r
CSeq: 29344 RE%47IST%45R\r
Max-Forwards: 70\r
Contact: <sip:alias1@host1.example.com>\r
C%6Fntact: <sip:alias2@host2.example.com>\r
Contact: <sip:alias3@host3.example.com>\r
l: 0\r
\r
";

pub(super) const LWSDISP: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:user@example.com\r
From: caller<sip:caller@example.com>;tag=323\r
Max-Forwards: 70\r
Call-ID: lwsdisp.1234abcd@funky.example.com\r
CSeq: 60 OPTIONS\r
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r
l: 0\r
\r
";

pub(super) const LONGREQ: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
To: \"I have a user name of extremeextremeextremeextremeextremeextremeextremeextremeextremeextreme proportion\"<sip:user@example.com:6000;unknownparam1=verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue;longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamename=shortvalue;verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongParameterNameWithNoValue>\r
F: sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername@example.net;tag=12982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982424;unknownheaderparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamename=unknowheaderparamvaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevalue;unknownValuelessparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamnameparamname\r
Call-ID: longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid\r
CSeq: 3882340 INVITE\r
Unknown-LongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLong-Name: unknown-longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong-value; unknown-longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong-parameter-name = unknown-longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong-parameter-value\r
Via: SIP/2.0/TCP sip33.example.com\r
v: SIP/2.0/TCP sip32.example.com\r
V: SIP/2.0/TCP sip31.example.com\r
Via: SIP/2.0/TCP sip30.example.com\r
ViA: SIP/2.0/TCP sip29.example.com\r
VIa: SIP/2.0/TCP sip28.example.com\r
VIA: SIP/2.0/TCP sip27.example.com\r
via: SIP/2.0/TCP sip26.example.com\r
viA: SIP/2.0/TCP sip25.example.com\r
vIa: SIP/2.0/TCP sip24.example.com\r
vIA: SIP/2.0/TCP sip23.example.com\r
V :  SIP/2.0/TCP sip22.example.com\r
v :  SIP/2.0/TCP sip21.example.com\r
V  : SIP/2.0/TCP sip20.example.com\r
v  : SIP/2.0/TCP sip19.example.com\r
Via : SIP/2.0/TCP sip18.example.com\r
Via  : SIP/2.0/TCP sip17.example.com\r
Via: SIP/2.0/TCP sip16.example.com\r
Via: SIP/2.0/TCP sip15.example.com\r
Via: SIP/2.0/TCP sip14.example.com\r
Via: SIP/2.0/TCP sip13.example.com\r
Via: SIP/2.0/TCP sip12.example.com\r
Via: SIP/2.0/TCP sip11.example.com\r
Via: SIP/2.0/TCP sip10.example.com\r
Via: SIP/2.0/TCP sip9.example.com\r
Via: SIP/2.0/TCP sip8.example.com\r
Via: SIP/2.0/TCP sip7.example.com\r
Via: SIP/2.0/TCP sip6.example.com\r
Via: SIP/2.0/TCP sip5.example.com\r
Via: SIP/2.0/TCP sip4.example.com\r
Via: SIP/2.0/TCP sip3.example.com\r
Via: SIP/2.0/TCP sip2.example.com\r
Via: SIP/2.0/TCP sip1.example.com\r
Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongbranchvalue\r
Max-Forwards: 70\r
Contact: <sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername@host5.example.net>\r
Content-Type: application/sdp\r
l: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const DBLREQ: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: sip:j.user@example.com\r
From: sip:j.user@example.com;tag=43251j3j324\r
Max-Forwards: 8\r
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r
Contact: sip:j.user@host.example.com\r
CSeq: 8 REGISTER\r
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r
Content-Length: 0\r
\r
\r
INVITE sip:joe@example.com SIP/2.0\r
t: sip:joe@example.com\r
From: sip:caller@example.net;tag=141334\r
Max-Forwards: 8\r
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r
Content-Type: application/sdp\r
Content-Length: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.15\r
s=-\r
c=IN IP4 192.0.2.15\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m =video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
\r
";

pub(super) const SEMIURI: &[u8] = b"OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r
To: sip:j_user@example.com\r
From: sip:caller@example.org;tag=33242\r
Max-Forwards: 3\r
Call-ID: semiuri.0ha0isndaksdj\r
CSeq: 8 OPTIONS\r
Accept: application/sdp, application/pkcs7-mime,\r
        multipart/mixed, multipart/signed,\r
        message/sip, message/sipfrag\r
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r
l: 0\r
\r
";

pub(super) const TRANSPORTS: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:user@example.com\r
From: <sip:caller@example.com>;tag=323\r
Max-Forwards: 70\r
Call-ID:  transports.kijh4akdnaqjkwendsasfdj\r
Accept: application/sdp\r
CSeq: 60 OPTIONS\r
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r
l: 0\r
\r
";

pub(super) const MPART01: &[u8] = b"MESSAGE sip:kumiko@example.org SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r
Max-Forwards: 70\r
Route: <sip:127.0.0.1:5080>\r
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\r
Contact: <sip:fluffy@127.0.0.1:5070>\r
To: <sip:kumiko@example.org>\r
From: <sip:fluffy@example.com>;tag=2fb0dcc9\r
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r
CSeq: 1 MESSAGE\r
Content-Transfer-Encoding: binary\r
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r
Date: Sat, 15 Oct 2005 04:44:56 GMT\r
User-Agent: SIPimp.org/0.2.5 (curses)\r
Content-Length: 553\r
\r
--7a9cbec02ceef655\r
Content-Type: text/plain\r
Content-Transfer-Encoding: binary\r
\r
Hello\r
--7a9cbec02ceef655\r
Content-Type: application/octet-stream\r
Content-Transfer-Encoding: binary\r
\r
0\x82\x01R\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x01C0\x82\x01?\x02\x01\x011\t0\x07\x06\x05+\x0e\x03\x02\x1a0\x0b\x06\t*\x86H\x86\xf7\r\x01\x07\x011\x82\x01 0\x82\x01\x1c\x02\x01\x010|0p1\x0b0\t\x06\x03U\x04\x06\x13\x02US1\x130\x11\x06\x03U\x04\x08\x13\nCalifornia1\x110\x0f\x06\x03U\x04\x07\x13\x08San Jose1\x0e0\x0c\x06\x03U\x04\n\x13\x05sipit1)0'\x06\x03U\x04\x0b\x13 Sipit Test Certificate Authority\x02\x08\x01\x95\x00q\x023\x01\x130\x07\x06\x05+\x0e\x03\x02\x1a0\r\x06\t*\x86H\x86\xf7\r\x01\x01\x01\x05\x00\x04\x81\x80\x8e\xf4f\xf9H\xf0R-\xd2\xe5\x97\x8e\x9d\x95\xaa\xe9\xf2\xfe\x15\xa0fYqb\x92\xe8\xda*\xa8\xd85\nh\xce\xff\xae<\xbd+\xff\x16u\xdd\xd5d\x8eY=\xd6G(\xf2b \xf7\xe9At\x9e3\r\x9a\x15\xed\xab\xdb\x93\xd1\x0cB\x10.{r\x89\xd2\x9c\xc0\xc9\xae.\xfb\xc7\xc0\xcf\xf9\x17/;\x02~O\xc0'\xe1Tm\xe4\xb6\xaa:\xbb>f\xcc\xcb]\xd6\xc6K\x83\x83\x14\x9c\xb8\xe6\xff\x18-\x94O\xe5{e\xbc\x99\xd0\x05\r
--7a9cbec02ceef655--\r
";

pub(super) const UNREASON: &[u8] = b"SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\xd0\xb5\r
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r
Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r
CSeq: 35 INVITE\r
From: sip:user@example.com;tag=11141343\r
To: sip:user@example.edu;tag=2229\r
Content-Length: 154\r
Content-Type: application/sdp\r
Contact: <sip:user@host198.example.com>\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.198\r
s=-\r
c=IN IP4 192.0.2.198\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const NOREASON: &[u8] = b"SIP/2.0 100 \r
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r
Call-ID: noreason.asndj203insdf99223ndf\r
CSeq: 35 INVITE\r
From: <sip:user@example.com>;tag=39ansfi3\r
To: <sip:user@example.edu>;tag=902jndnke3\r
Content-Length: 0\r
Contact: <sip:user@host105.example.com>\r
\r
";

pub(super) const BADINV01: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=134161461246\r
Max-Forwards: 7\r
Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r
Contact: \"Joe\" <sip:joe@example.org>;;;;\r
Content-Length: 152\r
Content-Type: application/sdp\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.15\r
s=-\r
c=IN IP4 192.0.2.15\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const CLERR: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
Max-Forwards: 80\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=93942939o2\r
Contact: <sip:caller@hungry.example.net>\r
Call-ID: clerr.0ha0isndaksdjweiafasdk3\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r
Content-Type: application/sdp\r
Content-Length: 9999\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.155\r
s=-\r
c=IN IP4 192.0.2.155\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const NCL: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
Max-Forwards: 254\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=32394234\r
Call-ID: ncl.0ha0isndaksdj2193423r542w35\r
CSeq: 0 INVITE\r
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r
Contact: <sip:caller@example53.example.net>\r
Content-Type: application/sdp\r
Content-Length: -999\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.53\r
s=-\r
c=IN IP4 192.0.2.53\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const SCALAR02: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r
To: <sip:user@example.com>\r
From: <sip:user@example.com>;tag=239232jh3\r
CSeq: 36893488147419103232 REGISTER\r
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r
Max-Forwards: 300\r
Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\r
Contact: <sip:user@host129.example.com>\r
  ;expires=280297596632815\r
Content-Length: 0\r
\r
";

pub(super) const SCALARLG: &[u8] = b"SIP/2.0 503 Service Unavailable\r
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\r
To: <sip:user@example.com>\r
From: <sip:other@example.net>;tag=2easdjfejw\r
CSeq: 9292394834772304023312 OPTIONS\r
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r
Retry-After: 949302838503028349304023988\r
Warning: 1812 overture \"In Progress\"\r
Content-Length: 0\r
\r
";

pub(super) const QUOTBAL: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
To: \"Mr. J. User <sip:j.user@example.com>\r
From: sip:caller@example.net;tag=93334\r
Max-Forwards: 10\r
Call-ID: quotbal.aksdj\r
Contact: <sip:caller@host59.example.net>\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\r
Content-Type: application/sdp\r
Content-Length: 152\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.15\r
s=-\r
c=IN IP4 192.0.2.15\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const LTGTRURI: &[u8] = b"INVITE <sip:user@example.com> SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=39291\r
Max-Forwards: 23\r
Call-ID: ltgtruri.1@192.0.2.5\r
CSeq: 1 INVITE\r
Via: SIP/2.0/UDP 192.0.2.5\r
Contact: <sip:caller@host5.example.net>\r
Content-Type: application/sdp\r
Content-Length: 159\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 192.0.2.5\r
t=3149328700 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const LWSRURI: &[u8] = b"INVITE sip:user@example.com; lr SIP/2.0\r
To: sip:user@example.com;tag=3xfe-9921883-z9f\r
From: sip:caller@example.net;tag=231413434\r
Max-Forwards: 5\r
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r
CSeq: 2130706432 INVITE\r
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r
Contact: <sip:caller@host1.example.net>\r
Content-Type: application/sdp\r
Content-Length: 159\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=3149328700 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const LWSSTART: &[u8] = b"INVITE  sip:user@example.com  SIP/2.0\r
Max-Forwards: 8\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=8814\r
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r
CSeq: 1893884 INVITE\r
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r
Contact: <sip:caller@host1.example.net>\r
Content-Type: application/sdp\r
Content-Length: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const TRWS: &[u8] = b"OPTIONS sip:remote-target@example.com SIP/2.0  \r
Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\r
To: <sip:remote-target@example.com>\r
From: <sip:local-resource@example.com>;tag=329429089\r
Call-ID: trws.oicu34958239neffasdhr2345r\r
Accept: application/sdp\r
CSeq: 238923 OPTIONS\r
Max-Forwards: 70\r
Content-Length: 0\r
\r
";

pub(super) const ESCRURI: &[u8] = b"INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=341518\r
Max-Forwards: 7\r
Contact: <sip:caller@host39923.example.net>\r
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\r
CSeq: 149209342 INVITE\r
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\r
Content-Type: application/sdp\r
Content-Length: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const BADDATE: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=2234923\r
Max-Forwards: 70\r
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234\r
CSeq: 1392934 INVITE\r
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r
Date: Fri, 01 Jan 2010 16:00:00 EST\r
Contact: <sip:caller@host5.example.net>\r
Content-Type: application/sdp\r
Content-Length: 150\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 192.0.2.5\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const REGBADCT: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: sip:user@example.com\r
From: sip:user@example.com;tag=998332\r
Max-Forwards: 70\r
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\r
CSeq: 1 REGISTER\r
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\r
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r
l: 0\r
\r
";

pub(super) const BADASPEC: &[u8] = b"OPTIONS sip:user@example.org SIP/2.0\r
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r
Max-Forwards: 70\r
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\r
To: \"Watson, Thomas\" < sip:t.watson@example.org >\r
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r
Accept: application/sdp\r
CSeq: 3923239 OPTIONS\r
l: 0\r
\r
";

pub(super) const BADDN: &[u8] = b"OPTIONS sip:t.watson@example.org SIP/2.0\r
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\r
Max-Forwards:      70\r
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r
To:      Watson, Thomas <sip:t.watson@example.org>\r
Call-ID: baddn.31415@c.example.com\r
Accept: application/sdp\r
CSeq:    3923239 OPTIONS\r
l: 0\r
";

pub(super) const BADVERS: &[u8] = b"OPTIONS sip:t.watson@example.org SIP/7.0\r
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r
Max-Forwards:     70\r
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r
To:      T. Watson <sip:t.watson@example.org>\r
Call-ID: badvers.31417@c.example.com\r
CSeq:    1 OPTIONS\r
l: 0\r
\r
";

pub(super) const MISMATCH01: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=34525\r
Max-Forwards: 6\r
Call-ID: mismatch01.dj0234sxdfl3\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r
l: 0\r
\r
";

pub(super) const MISMATCH02: &[u8] = b"NEWMETHOD sip:user@example.com SIP/2.0\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=34525\r
Max-Forwards: 6\r
Call-ID: mismatch02.dj0234sxdfl3\r
CSeq: 8 INVITE\r
Contact: <sip:caller@host.example.net>\r
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\r
Content-Type: application/sdp\r
l: 138\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.1\r
c=IN IP4 192.0.2.1\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const MULTI01: &[u8] = b"INVITE sip:user@company.com SIP/2.0\r
Contact: <sip:caller@host25.example.net>\r
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r
Max-Forwards: 70\r
CSeq: 5 INVITE\r
Call-ID: multi01.98asdh@192.0.2.1\r
CSeq: 59 INVITE\r
Call-ID: multi01.98asdh@192.0.2.2\r
From: sip:caller@example.com;tag=3413415\r
To: sip:user@example.com\r
To: sip:other@example.net\r
From: sip:caller@example.net;tag=2923420123\r
Content-Type: application/sdp\r
l: 154\r
Contact: <sip:caller@host36.example.net>\r
Max-Forwards: 5\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.25\r
s=-\r
c=IN IP4 192.0.2.25\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
\r
";

pub(super) const MCL01: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r
To: sip:user@example.com\r
From: sip:other@example.net;tag=3923942\r
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r
CSeq: 15932 OPTIONS\r
Content-Length: 13\r
Max-Forwards: 60\r
Content-Length: 5\r
Content-Type: text/plain\r
\r
There's no way to know how many octets are supposed to be here.\r
\r
";

pub(super) const BCAST: &[u8] = b"SIP/2.0 200 OK\r
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r
CSeq: 35 INVITE\r
From: sip:user@example.com;tag=11141343\r
To: sip:user@example.edu;tag=2229\r
Content-Length: 154\r
Content-Type: application/sdp\r
Contact: <sip:user@host28.example.com>\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.198\r
s=-\r
c=IN IP4 192.0.2.198\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const BIGCODE: &[u8] = b"SIP/2.0 4294967301 better not break the receiver\r
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r
CSeq: 353494 INVITE\r
From: <sip:user@example.com>;tag=39ansfi3\r
To: <sip:user@example.edu>;tag=902jndnke3\r
Content-Length: 0\r
Contact: <sip:user@host105.example.com>\r
\r
";

pub(super) const BADBRANCH: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.org;tag=33242\r
Max-Forwards: 3\r
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r
Accept: application/sdp\r
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r
CSeq: 8 OPTIONS\r
l: 0\r
\r
";

pub(super) const INSUF: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
CSeq: 193942 INVITE\r
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r
Content-Type: application/sdp\r
l: 152\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.95\r
s=-\r
c=IN IP4 192.0.2.95\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const UNKSCM: &[u8] = b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=384\r
Max-Forwards: 3\r
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r
CSeq: 3923423 OPTIONS\r
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r
Content-Length: 0\r
\r
";

pub(super) const NOVELSC: &[u8] = b"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=384\r
Max-Forwards: 3\r
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\r
CSeq: 3923423 OPTIONS\r
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r
Content-Length: 0\r
\r
";

pub(super) const UNKSM2: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: isbn:2983792873\r
From: <http://www.example.com>;tag=3234233\r
Call-ID: unksm2.daksdj@hyphenated-host.example.com\r
CSeq: 234902 REGISTER\r
Max-Forwards: 70\r
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\r
Contact: <name:John_Smith>\r
l: 0\r
\r
";

pub(super) const BEXT01: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:j_user@example.com\r
From: sip:caller@example.net;tag=242etr\r
Max-Forwards: 6\r
Call-ID: bext01.0ha0isndaksdj\r
Require: nothingSupportsThis, nothingSupportsThisEither\r
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r
CSeq: 8 OPTIONS\r
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\r
Content-Length: 0\r
\r
";

pub(super) const INVUT: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
Contact: <sip:caller@host5.example.net>\r
To: sip:j.user@example.com\r
From: sip:caller@example.net;tag=8392034\r
Max-Forwards: 70\r
Call-ID: invut.0ha0isndaksdjadsfij34n23d\r
CSeq: 235448 INVITE\r
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\r
Content-Type: application/unknownformat\r
Content-Length: 40\r
\r
<audio>\r
 <pcmu port=\"443\"/>\r
</audio>\r
";

pub(super) const REGAUT01: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: sip:j.user@example.com\r
From: sip:j.user@example.com;tag=87321hj23128\r
Max-Forwards: 8\r
Call-ID: regaut01.0ha0isndaksdj\r
CSeq: 9338 REGISTER\r
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r
Authorization: NoOneKnowsThisScheme opaque-data=here\r
Content-Length:0\r
\r
";

pub(super) const SDP01: &[u8] = b"INVITE sip:user@example.com SIP/2.0\r
To: sip:j_user@example.com\r
Contact: <sip:caller@host15.example.net>\r
From: sip:caller@example.net;tag=234\r
Max-Forwards: 5\r
Call-ID: sdp01.ndaksdj9342dasdd\r
Accept: text/nobodyKnowsThis\r
CSeq: 8 INVITE\r
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r
Content-Length: 150\r
Content-Type: application/sdp\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 192.0.2.5\r
t=0 0\r
m=audio 49217 RTP/AVP 0 12\r
m=video 3227 RTP/AVP 31\r
a=rtpmap:31 LPC\r
";

pub(super) const INV2543: &[u8] = b"INVITE sip:UserB@example.com SIP/2.0\r
Via: SIP/2.0/UDP iftgw.example.com\r
From: <sip:+13035551111@ift.client.example.net;user=phone>\r
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r
To: sip:+16505552222@ss1.example.net;user=phone\r
Call-ID: inv2543.1717@ift.client.example.com\r
CSeq: 56 INVITE\r
Content-Type: application/sdp\r
\r
v=0\r
o=mhandley 29739 7272939 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 192.0.2.5\r
t=0 0\r
m=audio 49217 RTP/AVP 0\r
";

pub(super) const ZEROMF: &[u8] = b"OPTIONS sip:user@example.com SIP/2.0\r
To: sip:user@example.com\r
From: sip:caller@example.net;tag=3ghsd41\r
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r
CSeq: 39234321 OPTIONS\r
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r
Max-Forwards: 0\r
Content-Length: 0\r
\r
";

pub(super) const CPARAM01: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r
Max-Forwards: 70\r
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\r
To: sip:watson@example.com\r
Call-ID: cparam01.70710@saturn.example.com\r
CSeq: 2 REGISTER\r
Contact: sip:+19725552222@gw1.example.net;unknownparam\r
l: 0\r
\r
";

pub(super) const CPARAM02: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r
Max-Forwards: 70\r
From: sip:watson@example.com;tag=838293\r
To: sip:watson@example.com\r
Call-ID: cparam02.70710@saturn.example.com\r
CSeq: 3 REGISTER\r
Contact: <sip:+19725552222@gw1.example.net;unknownparam>\r
l: 0\r
\r
";

pub(super) const REGESCRT: &[u8] = b"REGISTER sip:example.com SIP/2.0\r
To: sip:user@example.com\r
From: sip:user@example.com;tag=8\r
Max-Forwards: 70\r
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\r
CSeq: 14398234 REGISTER\r
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r
L:0\r
\r
";
}

use rfc::*;

fn parse(m: &'static [u8]) -> Result<SipMessage, ParseError> {
    SipMessage::parse(Bytes::from_static(m))
}

fn valid(m: &'static [u8]) -> SipMessage {
    let msg = parse(m).expect("valid torture message parses");
    msg.validate().expect("valid torture message validates");
    // Every accessor must behave on every valid message.
    exercise(&msg);
    msg
}

/// Calls every accessor; used to prove none of them panics.
pub(crate) fn exercise(m: &SipMessage) {
    let _ = (m.is_request(), m.method(), m.request_uri(), m.status(), m.reason());
    let _ = (m.vias(), m.top_via(), m.call_id(), m.cseq(), m.from(), m.to());
    let _ = (m.contacts(), m.route(), m.record_route(), m.max_forwards(), m.expires());
    let _ = (m.content_type(), m.media_type(), m.content_length(), m.date());
    let _ = (m.authorization(), m.proxy_authorization(), m.validate(), m.body());
    let _ = m.header_values("Via").count() + m.header_values("X-Unknown").count();
    let _ = m.headers().count();
    let _ = m.to_builder().to_bytes();
}

/// Whether the transport would answer (Some(status)) or drop (None) these bytes.
fn transport_answer(m: &'static [u8]) -> Option<u16> {
    let e = match parse(m) {
        Ok(msg) => match msg.validate() {
            Ok(()) => return None,
            Err(e) => e,
        },
        Err(e) => e,
    };
    let resp = SipMessage::error_response(m, &e, Some("t1"))?;
    SipMessage::parse(resp).ok()?.status()
}

#[test]
fn archive_sizes_match_rfc() {
    // Byte counts of the RFC 4475 archive files, as a transcription check.
    let sizes: &[(&[u8], usize)] = &[
        (WSINV, 1001),
        (INTMETH, 641),
        (ESC01, 543),
        (ESCNULL, 359),
        (ESC02, 439),
        (LWSDISP, 255),
        (LONGREQ, 3515),
        (DBLREQ, 750),
        (SEMIURI, 380),
        (TRANSPORTS, 503),
        (MPART01, 1290),
        (UNREASON, 526),
        (NOREASON, 274),
        (BADINV01, 472),
        (CLERR, 498),
        (NCL, 486),
        (SCALAR02, 476),
        (SCALARLG, 385),
        (QUOTBAL, 485),
        (LTGTRURI, 452),
        (LWSRURI, 541),
        (LWSSTART, 506),
        (TRWS, 327),
        (ESCRURI, 550),
        (BADDATE, 532),
        (REGBADCT, 307),
        (BADASPEC, 346),
        (BADDN, 331),
        (BADVERS, 291),
        (MISMATCH01, 236),
        (MISMATCH02, 449),
        (MULTI01, 643),
        (MCL01, 382),
        (BCAST, 516),
        (BIGCODE, 332),
    ];
    for (m, n) in sizes {
        assert_eq!(m.len(), *n);
    }
}

// ---------------------------------------------------------------- 3.1.1 valid messages

/// 3.1.1.1 wsinv: folding everywhere, LWS around separators, compact and long forms mixed,
/// leading zeros, unknown headers. Must be accepted.
#[test]
fn wsinv() {
    let m = valid(WSINV);
    assert_eq!(m.method(), Some(Method::Invite));
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.param("unknownparam"), Some(None));
    let to = m.to().unwrap();
    assert_eq!(to.uri.user.as_deref(), Some("vivekg"));
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = m.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(m.cseq().unwrap(), CSeq { seq: 9, method: Method::Invite });
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!((vias[0].transport.as_str(), vias[0].host.as_str()), ("UDP", "192.0.2.2"));
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!((vias[1].transport.as_str(), vias[1].host.as_str()), ("TCP", "spindle.example.com"));
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(m.header("s"), Some(""));
    assert_eq!(m.header("Subject"), Some(""));
    let nf = m.header("newfangledheader").unwrap();
    assert!(nf.starts_with("newfangled value") && nf.ends_with("continued newfangled value"));
    assert_eq!(m.header("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    let route = m.route().unwrap();
    assert_eq!(route.len(), 1);
    assert!(route[0].uri.is_loose_route());
    assert_eq!(route[0].uri.param("unknown-no-value"), Some(None));
    let Contacts::List(c) = m.contacts().unwrap() else { panic!("list") };
    assert_eq!(c[0].display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(c[0].param("newparam"), Some(Some("newvalue")));
    assert_eq!(c[0].param("secondparam"), Some(None));
    assert_eq!(c[0].param("q"), Some(Some("0.33")));
    assert_eq!(m.content_length(), Some(150));
    assert_eq!(m.body().len(), 150);
}

/// 3.1.1.2 intmeth: unusual but legal characters in method, URI, display names, params,
/// Call-ID and an extension header with UTF-8. Must be accepted.
#[test]
fn intmeth() {
    let m = valid(INTMETH);
    let method = m.method().unwrap();
    assert_eq!(method, Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into()));
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
    assert_eq!(ruri.password.as_deref(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
    assert_eq!(ruri.host, "example.com");
    assert_eq!(m.to().unwrap().display.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    let from = m.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(m.call_id().unwrap(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(m.cseq().unwrap().method, method);
    assert_eq!(m.max_forwards().unwrap(), Some(255));
    assert_eq!(m.header("extensionHeader-!.%*+_`'~"), Some("\u{feff}\u{5927}\u{505c}\u{96fb}"));
}

/// 3.1.1.3 esc01: %-escapes in several places; kept escaped (never unescaped recursively).
#[test]
fn esc01() {
    let m = valid(ESC01);
    assert_eq!(m.request_uri().unwrap().user.as_deref(), Some("sips%3Auser%40example.com"));
    assert_eq!(m.to().unwrap().uri.user.as_deref(), Some("%75se%72"));
    assert_eq!(m.from().unwrap().uri.user.as_deref(), Some("I%20have%20spaces"));
    let Contacts::List(c) = m.contacts().unwrap() else { panic!("list") };
    assert_eq!(c[0].uri.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    assert_eq!(c[0].uri.param("%6C%72"), Some(None));
}

/// 3.1.1.4 escnull: escaped NULs in user parts; two distinct Contacts.
#[test]
fn escnull() {
    let m = valid(ESCNULL);
    assert_eq!(m.to().unwrap().uri.user.as_deref(), Some("null-%00-null"));
    let Contacts::List(c) = m.contacts().unwrap() else { panic!("list") };
    assert_eq!(c.len(), 2);
    assert_ne!(c[0].uri, c[1].uri);
}

/// 3.1.1.5 esc02: % that is not an escape: unknown method RE%47IST%45R (not REGISTER), and
/// "C%6Fntact" is an unknown header, so there are two Contacts, not three.
#[test]
fn esc02() {
    let m = valid(ESC02);
    assert_eq!(m.method(), Some(Method::Other("RE%47IST%45R".into())));
    assert_eq!(m.to().unwrap().display.as_deref(), Some("%Z%45"));
    let Contacts::List(c) = m.contacts().unwrap() else { panic!("list") };
    assert_eq!(c.len(), 2);
    assert_eq!(m.header("C%6Fntact"), Some("<sip:alias2@host2.example.com>"));
}

/// 3.1.1.6 lwsdisp: no LWS between display name and '<'. Accepted.
#[test]
fn lwsdisp() {
    let m = valid(LWSDISP);
    let from = m.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("caller"));
    assert_eq!(from.tag(), Some("323"));
}

/// 3.1.1.7 longreq: very long values and 34 Via values.
#[test]
fn longreq() {
    let m = valid(LONGREQ);
    assert_eq!(m.vias().unwrap().len(), 34);
    assert_eq!(m.to().unwrap().uri.port, Some(6000));
    assert!(m.from().unwrap().tag().unwrap().len() > 150);
    assert!(m.call_id().unwrap().starts_with("longreq.onereally"));
    assert_eq!(m.body().len(), 150);
}

/// 3.1.1.8 dblreq: a REGISTER with Content-Length 0 followed by INVITE-looking noise in the
/// same datagram; the noise is ignored.
#[test]
fn dblreq() {
    let m = valid(DBLREQ);
    assert_eq!(m.method(), Some(Method::Register));
    assert!(m.body().is_empty());
    assert!(!m.raw().windows(6).any(|w| w == b"INVITE"));
}

/// 3.1.1.9 semiuri: ';' inside the Request-URI user part.
#[test]
fn semiuri() {
    let m = valid(SEMIURI);
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(ruri.host, "example.com");
    assert!(ruri.params.is_empty());
    assert_eq!(m.header_values("Accept").count(), 6);
}

/// 3.1.1.10 transports: Via values with UDP, SCTP, TLS, an unknown transport and TCP.
#[test]
fn transports() {
    let m = valid(TRANSPORTS);
    let t: Vec<String> = m.vias().unwrap().into_iter().map(|v| v.transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id().unwrap(), "transports.kijh4akdnaqjkwendsasfdj");
}

/// 3.1.1.11 mpart01: multipart/mixed body with binary parts; the body is opaque bytes.
#[test]
fn mpart01() {
    let m = valid(MPART01);
    assert_eq!(m.body().len(), 553);
    assert_eq!(m.media_type().unwrap().as_deref(), Some("multipart/mixed"));
}

/// 3.1.1.12 unreason: reason phrase with non-ASCII UTF-8.
#[test]
fn unreason() {
    let m = valid(UNREASON);
    assert_eq!(m.status(), Some(200));
    assert!(m.reason().unwrap().starts_with("= 2**3 * 5**2 \u{43d}\u{43e}"));
}

/// 3.1.1.13 noreason: empty reason phrase (with the required SP).
#[test]
fn noreason() {
    let m = valid(NOREASON);
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
}

// ---------------------------------------------------------------- 3.1.2 invalid messages

/// 3.1.2.1 badinv01: empty Via/Contact params. Parses (framing is fine) but `vias()` and
/// `contacts()` fail, so `validate()` fails; the top Via is unreadable too
/// ("192.0.2.15;;"), so the transport cannot route a 400 and drops it.
#[test]
fn badinv01() {
    let m = parse(BADINV01).unwrap();
    assert!(m.vias().is_err());
    assert!(m.contacts().is_err());
    assert_eq!(m.validate().unwrap_err().status_code(), 400);
    assert_eq!(transport_answer(BADINV01), None);
}

/// 3.1.2.2 clerr: Content-Length larger than the datagram: rejected with 400 on UDP; on a
/// stream, framing just waits for more bytes.
#[test]
fn clerr() {
    let e = parse(CLERR).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::Truncated);
    assert_eq!(transport_answer(CLERR), Some(400));
    assert_eq!(frame_stream(CLERR).unwrap(), None);
}

/// 3.2.? ncl (listed with 3.1.2 in practice): negative Content-Length is rejected; on a
/// stream it is a framing error.
#[test]
fn ncl() {
    assert_eq!(parse(NCL).unwrap_err().kind(), ParseErrorKind::BadContentLength);
    assert!(frame_stream(NCL).is_err());
    assert_eq!(transport_answer(NCL), Some(400));
}

/// 3.1.2.4 scalar02: CSeq > 2^32-1 (400), Max-Forwards > 255, Expires and contact expires
/// > 2^32-1 (treated as the maximum). `cseq()` fails so `validate()` answers 400.
#[test]
fn scalar02() {
    let m = parse(SCALAR02).unwrap();
    assert!(m.cseq().is_err());
    assert!(m.max_forwards().is_err());
    assert_eq!(m.expires().unwrap(), Some(u32::MAX));
    let Contacts::List(c) = m.contacts().unwrap() else { panic!("list") };
    assert_eq!(c[0].expires(), Some(u32::MAX));
    assert_eq!(m.validate().unwrap_err().status_code(), 400);
    assert_eq!(transport_answer(SCALAR02), Some(400));
}

/// 3.1.2.5 scalarlg: a response with an overlarge CSeq: `validate()` fails, and responses are
/// never answered (the transaction layer discards it).
#[test]
fn scalarlg() {
    let m = parse(SCALARLG).unwrap();
    assert_eq!(m.status(), Some(503));
    assert!(m.cseq().is_err());
    assert!(m.validate().is_err());
    assert_eq!(transport_answer(SCALARLG), None);
}

/// 3.1.2.6 quotbal: unterminated quote in the To display name: `to()` fails -> 400.
#[test]
fn quotbal() {
    let m = parse(QUOTBAL).unwrap();
    assert!(m.to().is_err());
    assert_eq!(transport_answer(QUOTBAL), Some(400));
}

/// 3.1.2.7 ltgtruri: Request-URI in <>: rejected at parse -> 400.
#[test]
fn ltgtruri() {
    assert_eq!(parse(LTGTRURI).unwrap_err().kind(), ParseErrorKind::BadUri);
    assert_eq!(transport_answer(LTGTRURI), Some(400));
}

/// 3.1.2.8 lwsruri: LWS inside the Request-URI: rejected at parse -> 400.
#[test]
fn lwsruri() {
    assert_eq!(parse(LWSRURI).unwrap_err().kind(), ParseErrorKind::BadStartLine);
    assert_eq!(transport_answer(LWSRURI), Some(400));
}

/// 3.1.2.9 lwsstart: multiple SP between request-line elements: rejected -> 400.
#[test]
fn lwsstart() {
    assert_eq!(parse(LWSSTART).unwrap_err().kind(), ParseErrorKind::BadStartLine);
    assert_eq!(transport_answer(LWSSTART), Some(400));
}

/// 3.1.2.10 trws: SP after SIP-Version: rejected (allowed by the RFC) -> 400.
#[test]
fn trws() {
    assert_eq!(parse(TRWS).unwrap_err().kind(), ParseErrorKind::BadStartLine);
    assert_eq!(transport_answer(TRWS), Some(400));
}

/// 3.1.2.11 escruri: URI headers in the Request-URI: rejected -> 400.
#[test]
fn escruri() {
    assert_eq!(parse(ESCRURI).unwrap_err().kind(), ParseErrorKind::BadUri);
    assert_eq!(transport_answer(ESCRURI), Some(400));
}

/// 3.1.2.12 baddate: non-GMT Date. The message is usable (`validate()` passes, as the RFC
/// prefers when Date is not needed); `date()` surfaces the error.
#[test]
fn baddate() {
    let m = parse(BADDATE).unwrap();
    m.validate().unwrap();
    assert!(m.date().is_err());
}

/// 3.1.2.13 regbadct: Contact addr-spec carrying URI headers (must be name-addr):
/// `contacts()` fails -> the registrar answers 400.
#[test]
fn regbadct() {
    let m = parse(REGBADCT).unwrap();
    assert!(m.contacts().is_err());
}

/// 3.1.2.14 badaspec: spaces inside <> in To: `to()` fails -> 400.
#[test]
fn badaspec() {
    let m = parse(BADASPEC).unwrap();
    assert!(m.to().is_err());
    assert_eq!(transport_answer(BADASPEC), Some(400));
}

/// 3.1.2.15 baddn: unquoted display names with non-token characters: From/To fail -> 400.
/// (The archive copy ends after the last header line without the empty line; datagram
/// parsing accepts a header section that ends exactly at the end of the buffer.)
#[test]
fn baddn() {
    let m = parse(BADDN).unwrap();
    assert!(m.from().is_err());
    assert!(m.to().is_err());
    assert_eq!(transport_answer(BADDN), Some(400));
}

/// 3.1.2.16 badvers: SIP/7.0 -> 505 Version Not Supported.
#[test]
fn badvers() {
    let e = parse(BADVERS).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnsupportedVersion);
    assert_eq!(transport_answer(BADVERS), Some(505));
}

/// 3.1.2.17 mismatch01: CSeq method differs from the request method -> 400.
#[test]
fn mismatch01() {
    let m = parse(MISMATCH01).unwrap();
    assert_eq!(m.validate().unwrap_err().kind(), ParseErrorKind::CSeqMethodMismatch);
    assert_eq!(transport_answer(MISMATCH01), Some(400));
}

/// 3.1.2.18 mismatch02: unknown method with a non-matching CSeq method. The RFC prefers 501;
/// this layer reports the mismatch (400 is acceptable per the RFC); a UA that checks
/// `method()` for support first answers 501.
#[test]
fn mismatch02() {
    let m = parse(MISMATCH02).unwrap();
    assert_eq!(m.method(), Some(Method::Other("NEWMETHOD".into())));
    assert_eq!(m.validate().unwrap_err().kind(), ParseErrorKind::CSeqMethodMismatch);
}

/// 3.1.2.19 multi01: several Call-ID, To, From, Max-Forwards and CSeq values: the single-value
/// accessors fail -> 400.
#[test]
fn multi01() {
    let m = parse(MULTI01).unwrap();
    for e in [m.call_id().err(), m.to().err(), m.from().err(), m.cseq().err()] {
        assert_eq!(e.map(|e| e.kind()), Some(ParseErrorKind::DuplicateHeader));
    }
    assert!(m.max_forwards().is_err());
    assert_eq!(transport_answer(MULTI01), Some(400));
}

/// 3.1.2.20 mcl01: conflicting Content-Length values: framing error (UDP: rest discarded
/// with a 400; TCP: connection must be closed).
#[test]
fn mcl01() {
    assert_eq!(parse(MCL01).unwrap_err().kind(), ParseErrorKind::BadContentLength);
    assert!(frame_stream(MCL01).is_err());
    assert_eq!(transport_answer(MCL01), Some(400));
}

/// 3.1.2.21 bcast: a response whose second Via is 255.255.255.255: well formed; processed
/// normally.
#[test]
fn bcast() {
    let m = valid(BCAST);
    assert_eq!(m.vias().unwrap()[1].host, "255.255.255.255");
}

/// 3.1.2.22 bigcode: status code > 699: rejected; being a response it is dropped.
#[test]
fn bigcode() {
    assert_eq!(parse(BIGCODE).unwrap_err().kind(), ParseErrorKind::BadStartLine);
    assert_eq!(transport_answer(BIGCODE), None);
}

// ------------------------------------------------- 3.2 / 3.3 transaction and application layer

/// 3.2.1 badbranch: branch is just the magic cookie. Parses; the branch is exposed as is and
/// the transaction layer decides (it may fall back to RFC 2543 matching).
#[test]
fn badbranch() {
    let m = valid(BADBRANCH);
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK"));
}

/// 3.3.1 insuf: no Call-ID, From or To: `validate()` fails with MissingHeader -> 400.
#[test]
fn insuf() {
    let m = parse(INSUF).unwrap();
    assert_eq!(m.validate().unwrap_err().kind(), ParseErrorKind::MissingHeader);
    assert_eq!(transport_answer(INSUF), Some(400));
}

/// 3.3.2 unkscm: unknown Request-URI scheme -> 416 Unsupported URI Scheme.
#[test]
fn unkscm() {
    assert_eq!(parse(UNKSCM).unwrap_err().status_code(), 416);
    assert_eq!(transport_answer(UNKSCM), Some(416));
}

/// 3.3.3 novelsc: novel scheme (soap.beep) in the Request-URI -> 416.
#[test]
fn novelsc() {
    assert_eq!(parse(NOVELSC).unwrap_err().status_code(), 416);
}

/// 3.3.4 unksm2: unknown schemes in To/From/Contact are syntactically fine (opaque URIs);
/// the registrar decides.
#[test]
fn unksm2() {
    let m = valid(UNKSM2);
    assert_eq!(m.to().unwrap().uri.scheme, Scheme::Other("isbn".into()));
    assert_eq!(m.from().unwrap().uri.scheme, Scheme::Other("http".into()));
}

/// 3.3.5 bext01: unknown Require/Proxy-Require option tags: well formed (420 is the UA's
/// business); values readable.
#[test]
fn bext01() {
    let m = valid(BEXT01);
    assert!(m.header_values("Require").count() >= 1);
}

/// 3.3.6 invut: unknown Content-Type: well formed; the media type is exposed for a 415.
#[test]
fn invut() {
    let m = valid(INVUT);
    assert!(m.media_type().unwrap().is_some());
}

/// 3.3.7 regaut01: REGISTER with an unknown authorization scheme: raw access only.
#[test]
fn regaut01() {
    let m = valid(REGAUT01);
    assert!(m.authorization().is_some());
}

/// 3.3.9 sdp01 (unacceptable Accept) and inv2543 (RFC 2543 style, no branch, no
/// Content-Length on UDP): both parse.
#[test]
fn sdp01_and_inv2543() {
    valid(SDP01);
    let m = parse(INV2543).unwrap();
    assert_eq!(m.top_via().unwrap().branch(), None);
    assert_eq!(m.content_length(), None);
    assert_eq!(m.body().len(), 105);
}

/// 3.3.10 zeromf: Max-Forwards 0 is valid (the proxy/UA answers 483 or handles OPTIONS).
#[test]
fn zeromf() {
    assert_eq!(valid(ZEROMF).max_forwards().unwrap(), Some(0));
}

/// 3.3.12/13 cparam01/cparam02: a param after an addr-spec Contact is a contact param; inside
/// <> it is a URI param.
#[test]
fn cparams() {
    let Contacts::List(a) = valid(CPARAM01).contacts().unwrap() else { panic!("list") };
    assert_eq!(a[0].param("unknownparam"), Some(None));
    assert!(a[0].uri.params.is_empty());
    let Contacts::List(b) = valid(CPARAM02).contacts().unwrap() else { panic!("list") };
    assert_eq!(b[0].uri.param("unknownparam"), Some(None));
    assert!(b[0].params.is_empty());
}

/// 3.3.14 regescrt: escaped Route header inside a <> Contact URI is legal.
#[test]
fn regescrt() {
    let Contacts::List(c) = valid(REGESCRT).contacts().unwrap() else { panic!("list") };
    assert_eq!(c[0].uri.headers.len(), 1);
}

/// Every torture message, valid or not, must survive every accessor and stream framing.
#[test]
fn no_accessor_panics_on_any_torture_message() {
    for m in [
        WSINV, INTMETH, ESC01, ESCNULL, ESC02, LWSDISP, LONGREQ, DBLREQ, SEMIURI, TRANSPORTS, MPART01, UNREASON,
        NOREASON, BADINV01, CLERR, NCL, SCALAR02, SCALARLG, QUOTBAL, LTGTRURI, LWSRURI, LWSSTART, TRWS, ESCRURI,
        BADDATE, REGBADCT, BADASPEC, BADDN, BADVERS, MISMATCH01, MISMATCH02, MULTI01, MCL01, BCAST, BIGCODE, BADBRANCH,
        INSUF, UNKSCM, NOVELSC, UNKSM2, BEXT01, INVUT, REGAUT01, SDP01, INV2543, ZEROMF, CPARAM01, CPARAM02, REGESCRT,
    ] {
        let _ = frame_stream(m);
        let _ = next_stream_item(m);
        let _ = salvage_headers(m);
        if let Ok(msg) = parse(m) {
            exercise(&msg);
        }
    }
}

mod fuzzish {
    //! Property tests: random bytes and mutated torture/carrier messages never panic any
    //! parser entry point or accessor, and valid messages survive a builder round trip.

    use proptest::prelude::*;

    use super::*;

    const SEEDS: &[&[u8]] = &[
        WSINV,
        INTMETH,
        ESC01,
        ESC02,
        LONGREQ,
        DBLREQ,
        MPART01,
        UNREASON,
        BADINV01,
        CLERR,
        SCALAR02,
        QUOTBAL,
        BADVERS,
        MULTI01,
        MCL01,
        INV2543,
        REGESCRT,
        super::super::tests::INVITE.as_bytes(),
    ];

    const SPICY: &[u8] = b"\r\n \t:;,\"<>%@[]/=?\\\x00\xff0123456789";

    fn check_all(data: &[u8]) {
        let _ = frame_stream(data);
        let _ = next_stream_item(data);
        let _ = salvage_headers(data);
        let bytes = Bytes::copy_from_slice(data);
        let e = match SipMessage::parse(bytes) {
            Ok(m) => {
                exercise(&m);
                if m.validate().is_ok() {
                    let rebuilt = m.to_builder().build().expect("rebuilt message parses");
                    assert_eq!(rebuilt.call_id().ok(), m.call_id().ok());
                    assert_eq!(rebuilt.cseq().ok(), m.cseq().ok());
                    assert_eq!(rebuilt.body(), m.body());
                }
                return;
            }
            Err(e) => e,
        };
        if let Some(resp) = SipMessage::error_response(data, &e, Some("x")) {
            SipMessage::parse(resp).expect("our error response parses");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            check_all(&data);
        }

        #[test]
        fn mutated_messages_never_panic(
            seed in 0..SEEDS.len(),
            edits in proptest::collection::vec((any::<usize>(), any::<usize>(), 0u8..5), 0..12),
            cut in any::<usize>(),
        ) {
            let mut data = SEEDS[seed].to_vec();
            for (pos, pick, op) in edits {
                if data.is_empty() {
                    break;
                }
                let i = pos % data.len();
                let c = SPICY[pick % SPICY.len()];
                match op {
                    0 => data[i] = c,
                    1 => data.insert(i, c),
                    2 => { data.remove(i); }
                    3 => data.insert(i, (pick % 256) as u8),
                    _ => {
                        // Multi-byte UTF-8 at arbitrary places (str slicing must not panic).
                        let ch = ["\u{e9}", "\u{20ac}", "\u{1f600}"][pick % 3];
                        data.splice(i..i, ch.bytes());
                    }
                }
            }
            if cut % 4 == 0 && !data.is_empty() {
                data.truncate(cut % data.len());
            }
            check_all(&data);
        }
    }
}
