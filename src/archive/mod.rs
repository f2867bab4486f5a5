//! Archives an auditor can trust (docs/archives.md): months written as compressed NDJSON with a
//! signed digest chained to the previous one ([`write`]), verified file by file ([`verify`]), loaded
//! back ([`restore`]); retention that archives before it drops ([`retention`]); and signed seals of
//! each closed day of live history ([`seal`]). The signing key is [`keys`]'.

pub mod digest;
pub mod keys;
pub mod restore;
pub mod retention;
pub mod seal;
pub mod verify;
pub mod write;
