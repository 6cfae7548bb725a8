//! A minimal incremental `text/event-stream` parser: only `data:` fields
//! matter for MCP. Memory is bounded by the guard's body limit, since every
//! byte fed in was counted by it.

/// Collects the `data` of complete events from chunks of an event stream.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    after_cr: bool,
}

impl SseParser {
    /// Feeds a chunk; the data of every event it completes goes to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<String>) {
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                _ => self.line.push(b),
            }
        }
    }

    /// End of stream: an event not terminated by a blank line is still
    /// delivered (the SSE spec drops it; accepting it costs nothing here).
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.end_line(out);
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the newline after the last data line
                out.push(String::from_utf8_lossy(&data).into_owned());
            }
            return;
        }
        if line.first() == Some(&b':') {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        if field == b"data" {
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
            self.has_data = true;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn events_across_chunks_and_line_endings() {
        let out = parse(&[
            b"id: 0\nretry: 3000\ndata:\n\n",
            b": keep-alive\r\n\r\nevent: message\r\ndata: {\"a\":",
            b"1}\r",
            b"\n\r\ndata: x\rdata: y\r\r",
            b"data:tail",
        ]);
        assert_eq!(out, vec!["", "{\"a\":1}", "x\ny", "tail"]);
    }
}
