//! An incremental Server-Sent Events parser for streamed LLM replies.
//!
//! OpenAI-compatible servers (OpenAI, DashScope, vLLM, Ollama's `/v1` endpoints) stream a
//! chat completion as `text/event-stream`. [`SseParser`] takes the body's bytes as they
//! arrive, cut anywhere, and hands back each [`SseEvent`] as soon as its closing blank line
//! has been read. [`is_done`] recognises OpenAI's closing `data: [DONE]`.
//!
//! # Example
//!
//! ```
//! use hydronet_llm::sse::{SseParser, is_done};
//!
//! let mut parser = SseParser::new();
//! let mut events = parser.push(b": keep-alive\n\ndata: {\"choices\":[]}\n\nda")?;
//! events.extend(parser.push(b"ta: [DONE]\n\n")?);
//!
//! assert_eq!(events.len(), 2);
//! assert_eq!(events[0].data, "{\"choices\":[]}");
//! assert!(is_done(&events[1]));
//! assert_eq!(parser.finish()?, None);
//! # Ok::<(), hydronet_llm::sse::SseError>(())
//! ```
//!
//! # What is parsed
//!
//! The format is the one in the WHATWG HTML standard:
//!
//! - lines end in LF, CRLF or a lone CR, and a CRLF split between two chunks is still one
//!   line ending;
//! - a blank line ends an event, which is handed back only if it had a `data` field;
//! - `data`, `event` and `id` are read; `retry`, unknown fields and `:` comment lines
//!   (keep-alives) are skipped;
//! - `field:value` loses one space after the colon, and a line without a colon is a field
//!   with an empty value;
//! - several `data` lines are joined with `\n`;
//! - a UTF-8 byte order mark at the very start of the stream is skipped.
//!
//! # Where it differs from a browser's `EventSource`
//!
//! - A line that is not UTF-8 is an error ([`SseError::InvalidUtf8`]) rather than decoded
//!   with replacement characters: JSON with U+FFFD in it would only fail later, further
//!   from the cause.
//! - A line longer than the limit (1 MiB unless set with [`SseParser::with_max_line`]) is an
//!   error, found while the line is still arriving, so a server that never sends a line
//!   ending cannot make the parser hold more than the limit.
//! - An event's `id` belongs to that event only: it is not carried over to later events as
//!   a browser's "last event ID" is. A caller that reconnects with `Last-Event-ID` keeps the
//!   last one it saw.
//! - An `event` or `id` field with an empty value counts as absent (`None`); an `id` that
//!   contains U+0000 is ignored, as the standard says.
//! - [`SseParser::finish`] returns an event still pending when the stream ends without its
//!   blank line, since some upstreams close that way.
//!
//! # Errors
//!
//! After [`SseParser::push`] returns an error, the stream cannot be trusted past that
//! point: the parser keeps the error and returns it again from every later `push` and from
//! `finish`. Events completed earlier in the chunk that caused the error are dropped with
//! it.

use std::fmt;

/// The longest line [`SseParser::new`] accepts: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// The UTF-8 byte order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One event: the `event:` name (None when absent), the `data:` lines joined with '\n', and
/// the `id:` if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's name from its `event` field, `None` when absent or empty.
    pub event: Option<String>,
    /// The event's `data` lines, joined with `\n`.
    pub data: String,
    /// The event's `id` field, `None` when absent or empty.
    pub id: Option<String>,
}

/// Why a stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line, not counting its line ending, was longer than the parser's limit.
    #[error("an SSE line exceeds {limit} bytes")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A complete line was not valid UTF-8.
    #[error("the stream is not valid UTF-8")]
    InvalidUtf8,
}

/// Feed bytes as they arrive, in any chunking; get complete events out.
///
/// Its `Debug` output shows sizes and state, never the buffered text, which may be part of
/// a prompt or a reply.
pub struct SseParser {
    /// The bytes of the line read so far, without its line ending; never longer than
    /// `max_line`.
    line: Vec<u8>,
    /// The fields of the event being read.
    pending: PendingEvent,
    /// The longest line accepted, in bytes.
    max_line: usize,
    /// The last line ended in CR, so an LF that comes next completes that line ending.
    after_cr: bool,
    /// No line has been completed yet, so a byte order mark may still be skipped.
    at_start: bool,
    /// The error that stopped the parser, returned again on every later call.
    failed: Option<SseError>,
}

impl SseParser {
    /// A parser that accepts lines of up to [`DEFAULT_MAX_LINE`] bytes.
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A parser that accepts lines of up to `max` bytes, not counting the line ending.
    ///
    /// The limit is on the bytes as received, so a byte order mark counts towards the first
    /// line. With a limit of 0 only blank lines are accepted.
    pub fn with_max_line(max: usize) -> Self {
        Self {
            line: Vec::new(),
            pending: PendingEvent::default(),
            max_line: max,
            after_cr: false,
            at_start: true,
            failed: None,
        }
    }

    /// Appends `chunk` and returns every event completed by it.
    ///
    /// # Errors
    ///
    /// [`SseError::LineTooLong`] as soon as the line being read grows past the limit,
    /// whether or not its line ending has arrived; [`SseError::InvalidUtf8`] when a
    /// complete line is not UTF-8. Either error is then returned by every later call, and
    /// events completed earlier in the same chunk are dropped.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.check_failed()?;

        let mut events = Vec::new();
        if let Err(err) = self.feed(chunk, &mut events) {
            self.fail(err.clone());
            return Err(err);
        }
        Ok(events)
    }

    /// Ends the stream, returning the event still pending, if any.
    ///
    /// An upstream that closes without the final blank line (or without `data: [DONE]`)
    /// leaves its last event pending; a last line without its line ending is read as a line.
    ///
    /// # Errors
    ///
    /// The error that stopped an earlier [`push`](Self::push), or
    /// [`SseError::InvalidUtf8`] when the unfinished last line is not UTF-8.
    pub fn finish(mut self) -> Result<Option<SseEvent>, SseError> {
        self.check_failed()?;

        if !self.line.is_empty() {
            self.take_line()?;
        }
        Ok(self.pending.dispatch())
    }

    /// Reads `chunk`, appending each completed event to `events`.
    fn feed(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = self.skip_lf_after_cr(chunk);

        while let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            self.buffer(&rest[..end])?;
            events.extend(self.take_line()?);

            self.after_cr = rest[end] == b'\r';
            rest = self.skip_lf_after_cr(&rest[end + 1..]);
        }

        self.buffer(rest)
    }

    /// Drops the LF of a CRLF whose CR ended the previous line.
    fn skip_lf_after_cr<'a>(&mut self, rest: &'a [u8]) -> &'a [u8] {
        // An empty chunk says nothing about what follows the CR.
        let Some(&first) = rest.first() else {
            return rest;
        };

        let skip = std::mem::take(&mut self.after_cr) && first == b'\n';
        if skip { &rest[1..] } else { rest }
    }

    /// Adds `bytes` to the current line, refusing to grow it past the limit.
    fn buffer(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        // `line` never exceeds `max_line`, so the subtraction cannot underflow.
        if bytes.len() > self.max_line - self.line.len() {
            return Err(SseError::LineTooLong {
                limit: self.max_line,
            });
        }

        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Interprets the buffered line and empties the buffer.
    fn take_line(&mut self) -> Result<Option<SseEvent>, SseError> {
        let start = self.bom_len();
        let line = std::str::from_utf8(&self.line[start..]).map_err(|_| SseError::InvalidUtf8)?;

        let event = self.pending.apply(line);
        self.line.clear();
        Ok(event)
    }

    /// The length of the byte order mark to skip at the start of the buffered line.
    fn bom_len(&mut self) -> usize {
        let first_line = std::mem::take(&mut self.at_start);

        if first_line && self.line.starts_with(BOM) {
            BOM.len()
        } else {
            0
        }
    }

    /// Returns the stored error, if an earlier call failed.
    fn check_failed(&self) -> Result<(), SseError> {
        match &self.failed {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Stores `err` for later calls and releases what was buffered.
    fn fail(&mut self, err: SseError) {
        self.failed = Some(err);
        self.line = Vec::new();
        self.pending = PendingEvent::default();
    }
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SseParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseParser")
            .field("buffered_bytes", &self.line.len())
            .field("max_line", &self.max_line)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// True for OpenAI's closing event, `data: [DONE]` (surrounding whitespace ignored).
pub fn is_done(event: &SseEvent) -> bool {
    event.data.trim() == "[DONE]"
}

/// The fields read so far for the event not yet dispatched.
#[derive(Default)]
struct PendingEvent {
    event: Option<String>,
    /// `None` until a `data` field is read: an event without one is never dispatched.
    data: Option<String>,
    id: Option<String>,
}

impl PendingEvent {
    /// Applies one complete line, returning the event a blank line completes.
    fn apply(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }

        // A comment line (`: ...`) has an empty field name and falls to the last arm.
        match split_field(line) {
            ("data", value) => self.push_data(value),
            ("event", value) => self.event = non_empty(value),
            ("id", value) if !value.contains('\0') => self.id = non_empty(value),
            _ => {}
        }
        None
    }

    /// Appends one `data` line.
    fn push_data(&mut self, value: &str) {
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(value);
            }
            None => self.data = Some(value.to_owned()),
        }
    }

    /// Takes the event, if it has data, and starts the next one empty.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let PendingEvent { event, data, id } = std::mem::take(self);

        Some(SseEvent {
            event,
            data: data?,
            id,
        })
    }
}

/// Splits `field:value`, dropping one space after the colon; a line without a colon is a
/// field with an empty value.
fn split_field(line: &str) -> (&str, &str) {
    match line.split_once(':') {
        Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
        None => (line, ""),
    }
}

/// `Some(value)`, or `None` for an empty value.
fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `chunks` one after another, then finishes.
    fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();

        for chunk in chunks {
            events.extend(parser.push(chunk).expect("valid stream"));
        }
        events.extend(parser.finish().expect("valid stream"));
        events
    }

    /// Parses `stream` given in one piece.
    fn parse(stream: &[u8]) -> Vec<SseEvent> {
        parse_chunks([stream])
    }

    /// An unnamed event with `data` and no id.
    fn data(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
            id: None,
        }
    }

    /// What an OpenAI-compatible server sends for a short streamed reply, with keep-alives,
    /// Chinese text and a closing usage chunk.
    const OPENAI_STREAM: &str = concat!(
        ": keep-alive\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":",
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":",
        "\"你好，管网压力\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":",
        "\" is 0.3 MPa 😀\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,",
        "\"completion_tokens\":9,\"total_tokens\":21}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn lf_line_endings() {
        let events = parse(b"data: one\n\ndata: two\n\n");

        assert_eq!(events, [data("one"), data("two")]);
    }

    #[test]
    fn crlf_line_endings() {
        let events = parse(b"event: delta\r\ndata: one\r\n\r\ndata: two\r\n\r\n");

        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("delta"));
        assert_eq!(events[0].data, "one");
        assert_eq!(events[1], data("two"));
    }

    #[test]
    fn lone_cr_line_endings() {
        let events = parse(b"data: one\r\rdata: two\rdata: three\r\r");

        assert_eq!(events, [data("one"), data("two\nthree")]);
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_line_ending() {
        let mut parser = SseParser::new();

        assert_eq!(parser.push(b"data: one\r").unwrap(), []);
        // Were the LF read as a second line ending, this blank line would dispatch.
        assert_eq!(parser.push(b"\n").unwrap(), []);
        assert_eq!(parser.push(b"data: two\r").unwrap(), []);
        assert_eq!(parser.push(b"").unwrap(), []);
        // The LF ends "data: two"; the CR is then a blank line, and the last LF belongs to it.
        assert_eq!(parser.push(b"\n\r").unwrap(), [data("one\ntwo")]);
        assert_eq!(parser.push(b"\n").unwrap(), []);
        assert_eq!(parser.finish().unwrap(), None);
    }

    #[test]
    fn cr_at_chunk_end_then_cr_is_a_blank_line() {
        let mut parser = SseParser::new();

        assert_eq!(parser.push(b"data: one\r").unwrap(), []);
        assert_eq!(parser.push(b"\r").unwrap(), [data("one")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = parse(b"data: {\ndata:   \"a\": 1\ndata\ndata: }\n\n");

        assert_eq!(events, [data("{\n  \"a\": 1\n\n}")]);
    }

    #[test]
    fn comments_and_keep_alives_are_skipped() {
        let events = parse(b": ping\n\n:\n\ndata: one\n: inside an event\ndata: two\n\n");

        assert_eq!(events, [data("one\ntwo")]);
    }

    #[test]
    fn event_name_and_id() {
        let events = parse(b"event: error\nid: 42\ndata: {}\n\ndata: next\n\n");

        let expected = SseEvent {
            event: Some("error".into()),
            data: "{}".into(),
            id: Some("42".into()),
        };
        // Neither the name nor the id carries over to the next event.
        assert_eq!(events, [expected, data("next")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let events = parse(b"event: ping\nid: 7\n\ndata: x\n\n");

        assert_eq!(events, [data("x")]);
    }

    #[test]
    fn empty_data_field_is_dispatched() {
        let events = parse(b"data\n\ndata:\n\ndata: \n\n");

        assert_eq!(events, [data(""), data(""), data("")]);
    }

    #[test]
    fn field_without_space_and_only_one_space_removed() {
        let events = parse(b"event:result\nid:1\ndata:{\"a\":1}\ndata:  two\n\n");

        assert_eq!(events[0].event.as_deref(), Some("result"));
        assert_eq!(events[0].id.as_deref(), Some("1"));
        assert_eq!(events[0].data, "{\"a\":1}\n two");
    }

    #[test]
    fn line_without_colon_is_a_field_with_empty_value() {
        let events = parse(b"data\ndata\nevent\n\n");

        assert_eq!(events, [data("\n")]);
    }

    #[test]
    fn unknown_fields_retry_and_nul_ids_are_ignored() {
        let events = parse(b"retry: 1000\nDATA: no\nfoo: bar\nid: a\0b\ndata: yes\n\n");

        assert_eq!(events, [data("yes")]);
    }

    #[test]
    fn openai_stream_split_at_every_byte_matches_unsplit() {
        let stream = OPENAI_STREAM.as_bytes();
        let whole = parse(stream);

        assert_eq!(whole.len(), 5);
        assert!(whole[1].data.contains("你好，管网压力"));
        assert!(whole[3].data.contains("\"choices\":[]"));
        assert!(is_done(&whole[4]));

        for split in 0..=stream.len() {
            let (head, tail) = stream.split_at(split);
            assert_eq!(parse_chunks([head, tail]), whole, "split at {split}");
        }

        let byte_by_byte = parse_chunks(stream.chunks(1));
        assert_eq!(byte_by_byte, whole);
    }

    #[test]
    fn multibyte_utf8_split_across_chunks() {
        let stream = "data: {\"content\":\"你好\"}\n\n".as_bytes();
        let first_char = stream.iter().position(|&b| b >= 0x80).unwrap();

        for split in first_char + 1..first_char + 6 {
            let (head, tail) = stream.split_at(split);
            assert_eq!(parse_chunks([head, tail]), [data("{\"content\":\"你好\"}")]);
        }
    }

    #[test]
    fn bom_at_start_is_skipped_even_when_split() {
        let stream = b"\xEF\xBB\xBFdata: x\n\n";

        assert_eq!(parse(stream), [data("x")]);
        assert_eq!(parse_chunks(stream.chunks(1)), [data("x")]);
    }

    #[test]
    fn bom_later_in_stream_is_kept() {
        // Only the start of the stream may carry a BOM; later it is part of a field name.
        let events = parse(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n");

        assert_eq!(events, [data("a")]);
    }

    #[test]
    fn finish_returns_event_without_final_blank_line() {
        assert_eq!(parse(b"data: [DONE]\n"), [data("[DONE]")]);
        assert_eq!(parse(b"data: [DONE]"), [data("[DONE]")]);
        assert_eq!(parse(b"data: a\r\ndata: b\r"), [data("a\nb")]);
        assert_eq!(parse(b"event: x\n"), []);
        assert_eq!(parse(b""), []);
    }

    #[test]
    fn oversize_line_fails_before_it_is_all_buffered() {
        const CHUNK: usize = 64 * 1024;
        let chunk = vec![b'a'; CHUNK];
        let mut parser = SseParser::with_max_line(DEFAULT_MAX_LINE);

        // 10 MiB without a line ending; the first 16 chunks fill the 1 MiB limit exactly.
        let fed = (1..=160).find(|_| parser.push(&chunk).is_err());

        assert_eq!(fed, Some(DEFAULT_MAX_LINE / CHUNK + 1));
        let limit = SseError::LineTooLong {
            limit: DEFAULT_MAX_LINE,
        };
        assert_eq!(parser.push(b"\n\n"), Err(limit.clone()));
        assert_eq!(parser.finish(), Err(limit));
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut parser = SseParser::with_max_line(7);

        assert_eq!(parser.push(b"data: a\n\n").unwrap(), [data("a")]);
        assert_eq!(
            parser.push(b"data: ab\n"),
            Err(SseError::LineTooLong { limit: 7 })
        );
    }

    #[test]
    fn oversize_line_with_its_ending_in_the_same_chunk() {
        let mut parser = SseParser::with_max_line(8);

        let result = parser.push(b"data: ok\n\ndata: too long\n\n");

        assert_eq!(result, Err(SseError::LineTooLong { limit: 8 }));
    }

    #[test]
    fn invalid_utf8_is_an_error_and_sticks() {
        let mut parser = SseParser::new();

        assert_eq!(parser.push(b"data: \xFF\xFE"), Ok(vec![]));
        assert_eq!(parser.push(b"\n"), Err(SseError::InvalidUtf8));
        assert_eq!(parser.push(b"data: fine\n\n"), Err(SseError::InvalidUtf8));
        assert_eq!(parser.finish(), Err(SseError::InvalidUtf8));
    }

    #[test]
    fn invalid_utf8_in_unfinished_last_line() {
        let mut parser = SseParser::new();

        assert_eq!(
            parser.push(b"data: ok\n\ndata: \xE4\xBD"),
            Ok(vec![data("ok")])
        );
        assert_eq!(parser.finish(), Err(SseError::InvalidUtf8));
    }

    #[test]
    fn dashscope_usage_chunk_with_empty_choices() {
        let stream = concat!(
            "id:1\nevent:result\n:HTTP_STATUS/200\n",
            "data:{\"choices\":[{\"delta\":{\"content\":\"好\"},\"index\":0}]}\n\n",
            "id:2\nevent:result\n:HTTP_STATUS/200\n",
            "data:{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":5}}\n\n",
        );

        let events = parse(stream.as_bytes());

        assert_eq!(events.len(), 2);
        assert_eq!(events[1].id.as_deref(), Some("2"));
        assert_eq!(events[1].event.as_deref(), Some("result"));
        assert!(events[1].data.starts_with("{\"choices\":[],\"usage\""));
        assert!(!is_done(&events[1]));
    }

    #[test]
    fn error_object_mid_stream_is_an_ordinary_event() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
            "event: error\ndata: {\"error\":{\"code\":500}}\n\n",
        );

        let events = parse(stream.as_bytes());

        assert_eq!(events.len(), 3);
        assert!(events[1].data.starts_with("{\"error\":"));
        assert_eq!(events[2].event.as_deref(), Some("error"));
    }

    #[test]
    fn is_done_trims_and_matches_only_done() {
        assert!(is_done(&data("[DONE]")));
        assert!(is_done(&data(" [DONE]\n")));
        assert!(!is_done(&data("[done]")));
        assert!(!is_done(&data("{\"done\":true}")));
    }

    #[test]
    fn debug_hides_buffered_text() {
        let mut parser = SseParser::new();
        parser.push(b"data: secret prompt").unwrap();

        let debug = format!("{parser:?}");

        assert!(debug.contains("buffered_bytes: 19"), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    /// One generated event: a name, its data lines and an id.
    type Generated = (Option<String>, Vec<String>, Option<String>);

    fn generated_event() -> impl Strategy<Value = Generated> {
        (
            proptest::option::of("[^\r\n]{1,8}"),
            proptest::collection::vec("[^\r\n]{0,12}", 1..4),
            proptest::option::of("[^\r\n\0]{1,8}"),
        )
    }

    /// Writes `events` as a stream, each line ending chosen from `endings` in turn.
    fn serialise(events: &[Generated], endings: &[u8], comments: bool, bom: bool) -> Vec<u8> {
        let mut lines = Vec::new();
        for (name, data, id) in events {
            if comments {
                lines.push(": keep-alive".to_owned());
            }
            lines.extend(name.as_ref().map(|name| format!("event: {name}")));
            lines.extend(data.iter().map(|line| format!("data: {line}")));
            lines.extend(id.as_ref().map(|id| format!("id: {id}")));
            lines.push(String::new());
        }

        let mut stream = if bom { BOM.to_vec() } else { Vec::new() };
        let mut previous = "";
        for (n, line) in lines.iter().enumerate() {
            let mut ending = ["\n", "\r\n", "\r"][usize::from(endings[n % endings.len()] % 3)];
            // After a lone CR, a blank line ended by LF would read as one CRLF.
            if previous == "\r" && line.is_empty() && ending == "\n" {
                ending = "\r\n";
            }
            stream.extend_from_slice(line.as_bytes());
            stream.extend_from_slice(ending.as_bytes());
            previous = ending;
        }
        stream
    }

    /// Cuts `stream` at the given points, in any order and possibly repeated.
    fn cut(stream: &[u8], points: &[prop::sample::Index]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = points.iter().map(|p| p.index(stream.len() + 1)).collect();
        points.sort_unstable();

        let mut chunks = Vec::new();
        let mut start = 0;
        for point in points {
            chunks.push(stream[start..point].to_vec());
            start = point;
        }
        chunks.push(stream[start..].to_vec());
        chunks
    }

    proptest! {
        #[test]
        fn serialised_events_parse_back_in_any_chunking(
            events in proptest::collection::vec(generated_event(), 0..6),
            endings in proptest::collection::vec(any::<u8>(), 1..8),
            points in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
            comments in any::<bool>(),
            bom in any::<bool>(),
        ) {
            let stream = serialise(&events, &endings, comments, bom);
            let chunks = cut(&stream, &points);

            let parsed = parse_chunks(chunks.iter().map(Vec::as_slice));

            let expected: Vec<SseEvent> = events
                .into_iter()
                .map(|(event, data, id)| SseEvent { event, data: data.join("\n"), id })
                .collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_chunking_does_not_matter(
            stream in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b':')],
                0..200,
            ),
            points in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
            max_line in 0usize..40,
        ) {
            let whole = run(std::slice::from_ref(&stream), max_line);
            let split = run(&cut(&stream, &points), max_line);

            prop_assert_eq!(whole, split);
        }
    }

    /// Feeds `chunks` to a parser with `max_line`, returning the events or the first error.
    fn run(chunks: &[Vec<u8>], max_line: usize) -> Result<Vec<SseEvent>, SseError> {
        let mut parser = SseParser::with_max_line(max_line);
        let mut events = Vec::new();

        for chunk in chunks {
            events.extend(parser.push(chunk)?);
        }
        events.extend(parser.finish()?);
        Ok(events)
    }
}
