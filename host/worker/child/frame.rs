//! A reduce request encoded in parts ([`reduce_request_parts`]): the runs
//! a worker holds in memory go into the frame as they are, chunk by chunk,
//! instead of being copied into one encoded message first (which held a
//! second copy of every fetched run in the worker for as long as the
//! request was being written). The parts, written one after another, are
//! exactly the bytes `prost` would encode: the executor decodes them as
//! any request.

use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;

use crate::proto::executor as pb;

/// One run of a reduce request: a range of a file, or chunks in memory.
pub enum RunPart {
    /// A range of a run file on local disk, passed by name.
    Disk(pb::DiskRun),
    /// A run in memory, passed as its bytes.
    Memory(Vec<Bytes>),
}

/// `Request.kind.reduce`.
const REQUEST_REDUCE: u32 = 2;
/// `ReduceRequest.run_refs`.
const REDUCE_RUN_REFS: u32 = 10;
/// `RunRef.kind.memory`.
const RUN_REF_MEMORY: u32 = 1;

/// The frame of `Request { reduce: header + runs }` as parts to write in
/// order: `header` (whose `runs` and `run_refs` are empty) encoded, then
/// each run as a `run_refs` entry, the bytes of memory runs as they are.
pub fn reduce_request_parts(header: pb::ReduceRequest, runs: Vec<RunPart>) -> Vec<Bytes> {
    let mut body: Vec<Bytes> = vec![header.encode_to_vec().into()];
    for run in runs {
        let mut prefix = Vec::with_capacity(16);
        match run {
            RunPart::Disk(disk) => {
                let run_ref = pb::RunRef {
                    kind: Some(pb::run_ref::Kind::Disk(disk)),
                };
                encode_key(REDUCE_RUN_REFS, WireType::LengthDelimited, &mut prefix);
                encode_varint(run_ref.encoded_len() as u64, &mut prefix);
                prefix.extend_from_slice(&run_ref.encode_to_vec());
                body.push(prefix.into());
            }
            RunPart::Memory(chunks) => {
                let n: usize = chunks.iter().map(Bytes::len).sum();
                let run_ref_len = key_len(RUN_REF_MEMORY) + encoded_len_varint(n as u64) + n;
                encode_key(REDUCE_RUN_REFS, WireType::LengthDelimited, &mut prefix);
                encode_varint(run_ref_len as u64, &mut prefix);
                encode_key(RUN_REF_MEMORY, WireType::LengthDelimited, &mut prefix);
                encode_varint(n as u64, &mut prefix);
                body.push(prefix.into());
                body.extend(chunks.into_iter().filter(|c| !c.is_empty()));
            }
        }
    }
    let inner: usize = body.iter().map(Bytes::len).sum();
    let mut outer = Vec::with_capacity(16);
    encode_key(REQUEST_REDUCE, WireType::LengthDelimited, &mut outer);
    encode_varint(inner as u64, &mut outer);
    let mut parts = Vec::with_capacity(body.len() + 1);
    parts.push(Bytes::from(outer));
    parts.extend(body);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of a frame joined.
    fn joined(parts: &[Bytes]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn the_parts_are_the_bytes_prost_encodes() {
        let header = pb::ReduceRequest {
            app: Some(pb::AppRef {
                name: "wc".into(),
                library: "/lib/x.so".into(),
                sha256: String::new(),
            }),
            args: b"--n 1".to_vec().into(),
            partition: 3,
            output_dir: "/out".into(),
            tag: "t".into(),
            buffer: 1 << 16,
            job: 9,
            ..Default::default()
        };
        let big = Bytes::from(vec![7u8; 300]);
        let disk = pb::DiskRun {
            path: "/w/run".into(),
            offset: 5,
            len: 200,
        };
        let runs = || {
            vec![
                RunPart::Memory(vec![Bytes::from_static(b"ab"), Bytes::new(), big.clone()]),
                RunPart::Disk(disk.clone()),
                RunPart::Memory(Vec::new()),
            ]
        };
        let mut whole = header.clone();
        let memory = |b: &[u8]| pb::RunRef {
            kind: Some(pb::run_ref::Kind::Memory(Bytes::copy_from_slice(b))),
        };
        let mut first = b"ab".to_vec();
        first.extend_from_slice(&big);
        whole.run_refs = vec![
            memory(&first),
            pb::RunRef {
                kind: Some(pb::run_ref::Kind::Disk(disk.clone())),
            },
            memory(b""),
        ];
        let request = pb::Request {
            kind: Some(pb::request::Kind::Reduce(whole)),
        };
        let parts = reduce_request_parts(header, runs());
        assert_eq!(joined(&parts), request.encode_to_vec());
        assert_eq!(pb::Request::decode(&joined(&parts)[..]).unwrap(), request);
        assert!(
            parts.iter().any(|p| p.as_ptr() == big.as_ptr()),
            "a memory run goes in as it is, not copied"
        );
    }
}
