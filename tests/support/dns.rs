//! A DNS server of the tests' own (UDP, A records), whose answer a test
//! changes while it runs: what a webhook's host resolves to at registration
//! need not be what it resolves to at delivery. The functions reach it
//! through `WEBHOOK_DNS_SERVER`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct DnsServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Ipv4Addr>>,
    queries: Arc<Mutex<u64>>,
}

impl DnsServer {
    /// Answers every A query with `answer` (AAAA and others: no records).
    pub async fn start(answer: Ipv4Addr) -> anyhow::Result<Self> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let server = Self { addr: socket.local_addr()?, answer: Arc::new(Mutex::new(answer)), queries: Arc::default() };
        let served = server.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if let Some(reply) = served.reply(&buf[..n]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Ok(server)
    }

    pub fn set_answer(&self, ip: Ipv4Addr) {
        *self.answer.lock().unwrap() = ip;
    }

    /// A queries answered so far.
    pub fn queries(&self) -> u64 {
        *self.queries.lock().unwrap()
    }

    fn reply(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
            return None;
        }
        // The question: labels up to the zero byte, then type and class.
        let mut end = 12;
        while *query.get(end)? != 0 {
            end += usize::from(query[end]) + 1;
        }
        let qtype = u16::from_be_bytes([*query.get(end + 1)?, *query.get(end + 2)?]);
        let question = &query[12..end + 5];
        let is_a = qtype == 1;
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&query[0..2]); // id
        out.extend_from_slice(&[0x81, 0x80]); // response, recursion desired + available, NOERROR
        out.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
        out.extend_from_slice(question);
        if is_a {
            *self.queries.lock().unwrap() += 1;
            out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]); // name ptr, A, IN, TTL 0, 4 bytes
            out.extend_from_slice(&self.answer.lock().unwrap().octets());
        }
        Some(out)
    }
}
