//! A completion names its request by `user_data` alone: the operation in the
//! top byte, the connection's slot below it. Every file of the loop encodes or
//! decodes it, so the layout is written down once, here.

pub(super) const OP_ACCEPT: u64 = 1;
pub(super) const OP_CONTROL: u64 = 2;
pub(super) const OP_RECV: u64 = 3;
pub(super) const OP_SEND: u64 = 4;
pub(super) const OP_CANCEL: u64 = 5;
const OP_SHIFT: u32 = 56;

pub(super) fn user_data(op: u64, key: usize) -> u64 {
    (op << OP_SHIFT) | key as u64
}

/// The operation a completion's `user_data` names.
pub(super) fn op_of(user_data: u64) -> u64 {
    user_data >> OP_SHIFT
}

/// The connection slot a completion's `user_data` names.
pub(super) fn key_of(user_data: u64) -> usize {
    (user_data & ((1 << OP_SHIFT) - 1)) as usize
}
