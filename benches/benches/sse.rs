//! The SSE parser over a streamed OpenAI-style chat completion, in bytes per second.
//!
//! - `sse/parse`: the stream arrives in reads of varied sizes (from a few dozen bytes to a
//!   TCP segment), so lines are cut anywhere, as from a real socket;
//! - `sse/parse_per_event`: one read per event, as from a server that flushes per token.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hydronet_llm::sse::{SseParser, is_done};

/// Content deltas in the stream (one per generated token or so).
const DELTAS: usize = 400;
/// Read sizes cycled through for `sse/parse`.
const READS: [usize; 5] = [37, 160, 512, 1460, 96];

/// The events of one streamed reply: the role, the content deltas, the finish reason, the
/// usage, and `[DONE]`, each as `data: …` and a blank line.
fn stream() -> Vec<Vec<u8>> {
    let words = [
        "The ",
        "reservoir ",
        "level ",
        "rose ",
        "by ",
        "3.2 ",
        "cm ",
        "overnight. ",
    ];
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-A1b2C3d4E5f6\",\"object\":\"chat.completion.chunk\",\
             \"created\":1718000000,\"model\":\"qwen-plus\",\"system_fingerprint\":null,\
             \"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\
             \"finish_reason\":{finish}}}]}}\n\n"
        )
        .into_bytes()
    };

    let mut events = vec![chunk(r#"{"role":"assistant","content":""}"#, "null")];
    for i in 0..DELTAS {
        let delta = format!(r#"{{"content":"{}"}}"#, words[i % words.len()]);
        events.push(chunk(&delta, "null"));
    }
    events.push(chunk("{}", r#""stop""#));
    events.push(
        b"data: {\"id\":\"chatcmpl-A1b2C3d4E5f6\",\"object\":\"chat.completion.chunk\",\
          \"created\":1718000000,\"model\":\"qwen-plus\",\"choices\":[],\"usage\":\
          {\"prompt_tokens\":812,\"completion_tokens\":400,\"total_tokens\":1212}}\n\n"
            .to_vec(),
    );
    events.push(b"data: [DONE]\n\n".to_vec());
    events
}

/// The same bytes cut into reads of the sizes in [`READS`], in turn.
fn reads(bytes: &[u8]) -> Vec<&[u8]> {
    let mut reads = Vec::new();
    let mut rest = bytes;
    for size in READS.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, tail) = rest.split_at((*size).min(rest.len()));
        reads.push(read);
        rest = tail;
    }
    reads
}

/// Parses the whole stream; returns how many events it held, checking the last is `[DONE]`.
fn parse<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> usize {
    let mut parser = SseParser::new();
    let mut count = 0;
    let mut last = None;
    for read in reads {
        for event in parser.push(black_box(read)).expect("the stream is valid") {
            count += 1;
            last = Some(event);
        }
    }
    assert!(last.is_some_and(|event| is_done(&event)));
    count
}

fn sse(c: &mut Criterion) {
    let events = stream();
    let bytes = events.concat();
    let cut = reads(&bytes);
    let expected = DELTAS + 4;
    assert_eq!(parse(cut.iter().copied()), expected);
    assert_eq!(parse(events.iter().map(Vec::as_slice)), expected);

    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse", |b| b.iter(|| parse(cut.iter().copied())));
    group.bench_function("parse_per_event", |b| {
        b.iter(|| parse(events.iter().map(Vec::as_slice)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sse
}
criterion_main!(benches);
