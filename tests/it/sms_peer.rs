//! The operator's side of Kannel: the test plays Kannel's "fake" SMSC over TCP.
//!
//! Kannel's fake SMSC protocol is one line per SMS, both ways: `<from> <to> <type> <payload>`.
//! Kannel writes each MT part as `text` (raw ISO-8859-1 to the end of the line), `ucs-2` (URL-encoded
//! UTF-16BE) or, for a part of a long message, `udh <UDH> data <payload>`; it reads MO lines
//! of type `text` (the rest of the line, raw), `ucs2` (URL-encoded UTF-16BE) and
//! `udh <UDH> <payload>` (URL-encoded), and reassembles concatenated parts itself.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::harness::{http, wait_for};

/// One SMS Kannel handed to the operator, its parts put back together.
#[derive(Debug)]
pub(crate) struct Mt {
    /// Sender (the organisation's number).
    pub(crate) from: String,
    /// Recipient.
    pub(crate) to: String,
    /// `text`, `ucs-2`, or `udh` for a concatenated message.
    pub(crate) kind: String,
    /// How many SMS it took.
    pub(crate) parts: usize,
    /// The payload of all parts, in order.
    pub(crate) bytes: Vec<u8>,
}

impl Mt {
    /// The text of a 7-bit message (Kannel's ISO-8859-1).
    pub(crate) fn latin1(&self) -> String {
        self.bytes.iter().map(|&b| char::from(b)).collect()
    }

    /// The text of a UCS-2 message.
    pub(crate) fn utf16(&self) -> String {
        let units: Vec<u16> = self
            .bytes
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

/// The connection to bearerbox as its fake SMSC.
pub(crate) struct FakeSmsc {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn env_port(name: &str) -> u16 {
    std::env::var(name)
        .unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests with scripts/test.sh, which starts Kannel")
        })
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a port"))
}

/// Raw bytes percent-decoded (`+` is a space), not forced to UTF-8.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("3f");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn url_encode(bytes: &[u8]) -> String {
    url::form_urlencoded::byte_serialize(bytes).collect()
}

impl FakeSmsc {
    /// Connects to bearerbox's fake-SMSC port and waits until Kannel reports the SMSC online.
    pub(crate) fn connect() -> Self {
        let port = env_port("KANNEL_SMSC_PORT");
        let stream = wait_for("Kannel's fake SMSC port", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        let admin = env_port("KANNEL_ADMIN_PORT");
        wait_for(
            "Kannel to see the SMSC online",
            Duration::from_secs(20),
            || {
                http()
                    .get(format!(
                        "http://127.0.0.1:{admin}/status.txt?password=adminpw"
                    ))
                    .send()
                    .ok()?
                    .text()
                    .ok()
                    .filter(|t| {
                        t.lines()
                            .any(|l| l.contains("fake") && l.contains("online"))
                    })
            },
        );
        let writer = stream.try_clone().expect("clone");
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }

    fn line(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .ok()?;
            let mut line = Vec::new();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => panic!("Kannel closed the fake SMSC connection"),
                Ok(_) => {
                    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        line.pop();
                    }
                    if !line.is_empty() {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The next SMS Kannel sends (all its parts), or `None` if none comes within `timeout`.
    pub(crate) fn next_mt(&mut self, timeout: Duration) -> Option<Mt> {
        let deadline = Instant::now() + timeout;
        let mut pending: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        loop {
            let raw = self.line(deadline)?;
            let head: Vec<&[u8]> = raw.splitn(4, |b| *b == b' ').collect();
            let field = |i: usize| {
                String::from_utf8_lossy(head.get(i).copied().unwrap_or(b"")).into_owned()
            };
            let (from, to, kind) = (field(0), field(1), field(2));
            let line = String::from_utf8_lossy(&raw).into_owned();
            let fields: Vec<&str> = line.splitn(6, ' ').collect();
            match kind.as_str() {
                "text" => {
                    return Some(Mt {
                        from,
                        to,
                        kind,
                        parts: 1,
                        bytes: head.get(3).copied().unwrap_or(b"").to_vec(),
                    });
                }
                "udh" => {
                    let udh = percent_decode(fields[3]);
                    // 05 00 03 <ref> <total> <seq>
                    assert!(udh.len() >= 6 && udh[1] == 0, "unexpected UDH {udh:?}");
                    let (total, seq) = (udh[4], udh[5]);
                    pending.insert(seq, percent_decode(fields.get(5).copied().unwrap_or("")));
                    if pending.len() == usize::from(total) {
                        return Some(Mt {
                            from,
                            to,
                            kind: "udh".into(),
                            parts: pending.len(),
                            bytes: pending.into_values().flatten().collect(),
                        });
                    }
                }
                _ => {
                    return Some(Mt {
                        from,
                        to,
                        kind,
                        parts: 1,
                        bytes: percent_decode(fields.get(3).copied().unwrap_or("")),
                    });
                }
            }
        }
    }

    /// A contact sends `text` to `to`: plain ASCII as `text`, anything else as `ucs2`.
    pub(crate) fn send_mo(&mut self, from: &str, to: &str, text: &str) {
        let line = if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            format!("{from} {to} text {text}\n")
        } else {
            let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            format!("{from} {to} ucs2 {}\n", url_encode(&utf16))
        };
        self.writer.write_all(line.as_bytes()).expect("write MO");
    }

    /// A contact sends a long ASCII text as concatenated parts (UDH with reference `reference`).
    pub(crate) fn send_mo_parts(&mut self, from: &str, to: &str, parts: &[&str], reference: u8) {
        let total = u8::try_from(parts.len()).expect("few parts");
        for (i, part) in parts.iter().enumerate() {
            let seq = u8::try_from(i + 1).expect("few parts");
            let udh = [5, 0, 3, reference, total, seq];
            let line = format!(
                "{from} {to} udh {} {}\n",
                url_encode(&udh),
                url_encode(part.as_bytes())
            );
            self.writer
                .write_all(line.as_bytes())
                .expect("write MO part");
        }
    }
}

#[test]
fn percent_decoding_keeps_raw_bytes() {
    assert_eq!(
        percent_decode("%00S+%D8%3D"),
        vec![0, b'S', b' ', 0xd8, 0x3d]
    );
    assert_eq!(percent_decode("a+b%C3%A9"), "a bé".as_bytes());
}
