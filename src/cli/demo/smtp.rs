//! The demo's mail server: a small SMTP receiver on 127.0.0.1 (port 0) that keeps every
//! accepted message as an `.eml` file, so the daemon's real SMTP path (lettre, the
//! outbox, retries) is what delivers the demo's mails. A fixture like the demo's
//! sources: it receives, it never relays.
//!
//! ## Protocol (the part of RFC 5321 a submitting client needs; no TLS, no AUTH)
//! - Greeting `220`; `EHLO` answers `250` with `8BITMIME` and `SMTPUTF8`; `HELO` `250`.
//! - `MAIL FROM:` starts a transaction (parameters ignored); `RCPT TO:<addr>` adds a
//!   recipient (`503` before `MAIL`); `DATA` (`503` without a recipient) answers `354`
//!   and reads lines up to a lone `.`, removing the leading dot of dot-stuffed lines;
//!   then `250` once the file is written (`451` if it cannot be).
//! - `RSET` clears the transaction, `NOOP` answers `250`, `QUIT` `221` and closes; any
//!   other command `502`. A line longer than [`MAX_LINE`] or a message larger than
//!   [`MAX_MESSAGE`] ends the session.
//! - Files are `NN-<notice key>.eml` (`NN` the arrival number from 01, the key from the
//!   `X-Yuqing-Notice` header made file-safe; `NN-mail.eml` without one), so listing
//!   the folder shows the mails in the order they arrived.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The longest command or text line accepted (RFC 5321 allows 1000 octets; lettre
/// folds its lines well below that).
pub const MAX_LINE: u64 = 8 * 1024;
/// The largest message accepted.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One accepted mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Its file name in the mail folder.
    pub file: String,
    /// Its `X-Yuqing-Notice` header.
    pub key: Option<String>,
    /// The envelope recipients.
    pub to: Vec<String>,
}

/// The mails received so far, and the folder they are written to.
pub struct Mailbox {
    dir: PathBuf,
    got: Mutex<Vec<Received>>,
}

impl Mailbox {
    /// The mails received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().map(|got| got.clone()).unwrap_or_default()
    }

    /// Writes one message and records it; the number is taken under the lock, so
    /// numbers and list order agree.
    fn store(&self, to: Vec<String>, data: &[u8]) -> std::io::Result<()> {
        let mut got = self
            .got
            .lock()
            .map_err(|_| std::io::Error::other("the demo mailbox lock is poisoned"))?;
        let key = notice_key(&String::from_utf8_lossy(data)).map(str::to_string);
        let file = format!(
            "{:02}-{}.eml",
            got.len() + 1,
            key.as_deref()
                .map_or_else(|| "mail".to_string(), crate::notify::key_token)
        );
        std::fs::write(self.dir.join(&file), data)?;
        got.push(Received { file, key, to });
        Ok(())
    }
}

/// The `X-Yuqing-Notice` header of a message (read from the header block only).
pub fn notice_key(eml: &str) -> Option<&str> {
    eml.lines()
        .take_while(|line| !line.trim_end().is_empty())
        .find_map(|line| line.strip_prefix("X-Yuqing-Notice: "))
        .map(str::trim)
}

/// Serves SMTP on 127.0.0.1 (port 0) until `stop`, writing mails into `dir`.
pub async fn serve(
    dir: &Path,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<(SocketAddr, Arc<Mailbox>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mailbox = Arc::new(Mailbox {
        dir: dir.to_path_buf(),
        got: Mutex::default(),
    });
    let shared = mailbox.clone();
    tokio::spawn(async move {
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let mailbox = shared.clone();
                        tokio::spawn(async move {
                            if let Err(err) = session(stream, mailbox).await {
                                tracing::debug!(%err, "demo SMTP session ended");
                            }
                        });
                    }
                    Err(err) => tracing::warn!(%err, "demo SMTP server cannot accept"),
                }
            }
        };
        tokio::select! {
            () = accept => {}
            _ = stop => {}
        }
    });
    Ok((addr, mailbox))
}

/// One SMTP session (see the module docs).
async fn session(stream: TcpStream, mailbox: Arc<Mailbox>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 demo.invalid yuqing demo SMTP ready\r\n")
        .await?;
    let mut mail_from = false;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut read).await? else {
            return Ok(());
        };
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-demo.invalid\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 demo.invalid\r\n",
            "MAIL" => {
                mail_from = true;
                to.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" if mail_from => {
                to.push(address(command));
                b"250 2.1.5 OK\r\n"
            }
            "DATA" if !to.is_empty() => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut read).await?;
                mail_from = false;
                let (mailbox, to) = (mailbox.clone(), std::mem::take(&mut to));
                let stored = tokio::task::spawn_blocking(move || mailbox.store(to, &data))
                    .await
                    .unwrap_or_else(|err| Err(std::io::Error::other(err)));
                match stored {
                    Ok(()) => b"250 2.0.0 OK\r\n",
                    Err(err) => {
                        tracing::warn!(%err, "demo SMTP server cannot write a mail");
                        b"451 4.3.0 Cannot store the message\r\n"
                    }
                }
            }
            "RCPT" | "DATA" => b"503 5.5.1 Bad sequence of commands\r\n",
            "RSET" => {
                mail_from = false;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// One line with its ending; `None` at the end of the stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = read.take(MAX_LINE).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") && n as u64 == MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "SMTP line too long",
        ));
    }
    Ok(Some(line))
}

/// The message after `DATA`, up to the lone `.` line, dot-unstuffed.
async fn read_data<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let Some(line) = read_line(read).await? else {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > MAX_MESSAGE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "SMTP message too large",
            ));
        }
        data.extend_from_slice(line);
    }
}

/// The address of `RCPT TO:<addr>` (between the angle brackets; without them, the
/// word after the colon).
fn address(command: &str) -> String {
    let path = match command.split_once('<') {
        Some((_, rest)) => rest.split('>').next(),
        None => command
            .split_once(':')
            .and_then(|(_, rest)| rest.split_whitespace().next()),
    };
    path.unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_key_is_read_from_the_headers_only() {
        let eml = "Subject: x\r\nX-Yuqing-Notice: 1/opened\r\n\r\nX-Yuqing-Notice: 9/opened\r\n";
        assert_eq!(notice_key(eml), Some("1/opened"));
        assert_eq!(notice_key("Subject: x\r\n\r\nbody"), None);
    }

    #[test]
    fn recipients_are_read_between_angle_brackets() {
        for (command, want) in [
            ("RCPT TO:<zhiban@demo.invalid>", "zhiban@demo.invalid"),
            ("RCPT TO: <a@b> NOTIFY=NEVER", "a@b"),
            ("RCPT TO:a@b", "a@b"),
        ] {
            assert_eq!(address(command), want, "{command}");
        }
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_ends_at_a_lone_dot() {
        let wire: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        let mut read = BufReader::new(wire);
        let data = read_data(&mut read).await.unwrap();
        assert_eq!(data, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(read_line(&mut read).await.unwrap().unwrap(), b"QUIT\r\n");
        let mut cut = BufReader::new(&b"Subject: x\r\n"[..]);
        assert!(read_data(&mut cut).await.is_err(), "no end of data");
    }

    /// lettre, the daemon's own client, delivers through this server: the file is
    /// named by arrival and notice key and holds the message.
    #[tokio::test]
    async fn lettre_delivers_a_mail_that_is_kept_as_a_numbered_file() {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let dir = tempfile::tempdir().unwrap();
        let (_stop, stop) = oneshot::channel();
        let (addr, mailbox) = serve(dir.path(), stop).await.unwrap();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(addr.port())
            .build();
        for n in 1..=2 {
            let message = Message::builder()
                .from("yuqing@demo.invalid".parse().unwrap())
                .to("zhiban@demo.invalid".parse().unwrap())
                .to("lingdao@demo.invalid".parse().unwrap())
                .subject("【舆情告警】演示")
                .raw_header(lettre::message::header::HeaderValue::new(
                    lettre::message::header::HeaderName::new_from_ascii_str("X-Yuqing-Notice"),
                    format!("{n}/opened"),
                ))
                .body(".leading dot\r\nbody".to_string())
                .unwrap();
            transport.send(message).await.unwrap();
        }
        let got = mailbox.received();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].file, "01-1.opened.eml");
        assert_eq!(got[1].file, "02-2.opened.eml");
        assert_eq!(got[0].key.as_deref(), Some("1/opened"));
        assert_eq!(got[0].to, ["zhiban@demo.invalid", "lingdao@demo.invalid"]);
        let text = std::fs::read_to_string(dir.path().join("01-1.opened.eml")).unwrap();
        assert!(text.contains("X-Yuqing-Notice: 1/opened"), "{text}");
        assert!(text.contains("\r\n.leading dot\r\n"), "unstuffed: {text}");
    }
}
