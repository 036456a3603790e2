//! Minecraft wire format: codecs, framing, NBT text components and packets.

pub mod codec;
pub mod frame;
pub mod nbt;
pub mod packets;

pub use codec::{DecodeError, Reader};
pub use frame::{Decode, Encode, FrameError, FrameReader, FrameWriter, encode_frame, split_id};
