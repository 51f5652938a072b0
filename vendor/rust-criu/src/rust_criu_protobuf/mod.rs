// @generated

pub mod rpc;
