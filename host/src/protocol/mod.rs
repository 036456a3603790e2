//! Minecraft wire format: codecs, framing and packets.

pub mod codec;
pub mod frame;
pub mod packets;

pub use codec::{DecodeError, Reader};
pub use frame::{Decode, Encode, FrameError, FrameReader, encode_frame, split_id};
