//! One module per command, each with its arguments (`Args`) and its `exec`.

pub mod add;
pub mod check;
pub mod digest;
pub mod fetch;
pub mod id;
pub mod init;
pub mod lock;
pub mod ls;
pub mod new;
pub mod outdated;
pub mod publish;
pub mod resolve;
pub mod show;
pub mod store;
pub mod trust;
pub mod verify;
