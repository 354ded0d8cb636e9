//! In-process tests of the worker together with its peers: the attempt
//! fence on map output across the wire ([`fence`]) and the heartbeat
//! interval the coordinator asks for ([`heartbeat`]).

mod fence;
mod heartbeat;
