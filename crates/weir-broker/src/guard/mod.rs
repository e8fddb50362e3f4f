//! Checks every length a request declares against the frame it came in,
//! before the `kafka-protocol` decoder sees it.
//!
//! Why: `kafka-protocol` 0.18 reserves memory from untrusted counts before
//! reading the elements (`Vec::with_capacity(n)` in its `Array` and
//! `CompactArray` decoders, `vec![0; n]` for some strings and bytes), so a
//! 12-byte Produce body declaring 2^32 - 2 topics asks for ~412 GB and the
//! process aborts; an abort cannot be caught. Kafka's own generated readers
//! refuse such a count ("Tried to allocate a collection of size N, but there
//! are only M bytes remaining", `MessageDataGenerator`); the guard applies
//! the same rule, and more, without allocating:
//!
//! - every array count is at most the bytes left (each element takes at
//!   least one byte: a test proves it for every described version), and
//!   then every element is walked, so a count the frame cannot hold fails;
//! - every string and bytes length fits in what is left, and a string is at
//!   most 32767 bytes (Kafka: "string field had invalid length");
//! - a negative classic length other than -1 (null) is refused;
//! - an unsigned varint is at most 5 bytes (Kafka's `ByteUtils` throws
//!   `illegalVarintException` on a 5th byte with its high bit set);
//! - in flexible versions (KIP-482) every struct ends with a tagged-field
//!   section: a count, then tag, size and `size` bytes each; a tag the spec
//!   knows is walked inside exactly its `size` bytes, because the decoder
//!   reads known tags by their schema rather than by their size; a known tag
//!   not valid in this version is refused, as Kafka and the decoder do;
//!   unknown tags are skipped, as Kafka keeps them as raw bytes.
//!
//! Bytes left after the body are accepted: Kafka's `RequestContext.parseRequest`
//! reads the body and never checks that the buffer is exhausted, and clients
//! never send any; the guard returns how far it read so callers can tell.
//!
//! Nullability, UTF-8 and field values are left to the decoder, which
//! returns an error for them rather than aborting. The walk itself takes
//! time linear in the frame and recursion only as deep as the description.

pub mod schema;

use kafka_protocol::messages::ApiKey;
use schema::{Field, Kind, Message};

/// Kafka refuses a string longer than this (`MessageDataGenerator`:
/// "string field had invalid length"); a classic `int16` length cannot
/// exceed it anyway.
const STRING_BYTES_MAX: usize = 0x7fff;

/// An unsigned varint holding a 32-bit value takes at most five bytes.
const UVARINT_BYTES_MAX: usize = 5;

/// The name used in errors for a struct's tagged-field section.
const TAGGED_FIELDS: &str = "_tagged_fields";

/// Why a request was refused before decoding. Offsets count from the start
/// of the slice that was checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The guard has no description of this API version.
    #[error("no description of {api_key:?} v{version}")]
    UnknownRequest {
        /// The request's API.
        api_key: ApiKey,
        /// The request's version.
        version: i16,
    },
    /// The guard has no description of this request header version.
    #[error("no description of request header v{version}")]
    UnknownHeader {
        /// The header version.
        version: i16,
    },
    /// The frame ends inside a field.
    #[error("{field}: needs {needed} bytes at offset {offset}, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the frame.
        remaining: usize,
    },
    /// An array declares more elements than there are bytes left.
    #[error("{field}: {count} elements declared at offset {offset}, {remaining} bytes left")]
    CountTooLarge {
        /// The array.
        field: &'static str,
        /// Where its count is.
        offset: usize,
        /// The declared count.
        count: usize,
        /// Bytes left after the count.
        remaining: usize,
    },
    /// A length is negative (other than -1 for null) or too long for its type.
    #[error("{field}: invalid length {length} at offset {offset}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// Where its length is.
        offset: usize,
        /// The declared length.
        length: i64,
    },
    /// An unsigned varint runs past five bytes.
    #[error("{field}: varint longer than 5 bytes at offset {offset}")]
    VarintTooLong {
        /// The field.
        field: &'static str,
        /// Where the varint starts.
        offset: usize,
    },
    /// A tag the spec knows, sent in a version that does not have it.
    #[error("{field}: tag {tag} is not valid for version {version}")]
    TagNotValid {
        /// The tagged field.
        field: &'static str,
        /// Its tag.
        tag: u32,
        /// The request version.
        version: i16,
    },
    /// A known tagged field whose declared size differs from its content.
    #[error("{field}: tagged field declares {size} bytes but holds {used}")]
    TaggedSizeMismatch {
        /// The tagged field.
        field: &'static str,
        /// The declared size.
        size: usize,
        /// The bytes its value takes.
        used: usize,
    },
}

/// Check a request body of `api_key` at `version` against its description.
/// `Ok` means every length in it fits the body, so the `kafka-protocol`
/// decoder can read it without reserving more than the body holds.
pub fn check_request(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), GuardError> {
    walk_request(api_key, version, body).map(|_| ())
}

/// Like [`check_request`], returning how many bytes of `body` the request
/// takes (any rest is ignored, as Kafka ignores it).
pub fn walk_request(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, GuardError> {
    let message = schema::request(api_key)
        .filter(|message| message.covers(version))
        .ok_or(GuardError::UnknownRequest { api_key, version })?;
    walk(message, version, body)
}

/// Check the request header at the start of `frame` (header version
/// `header_version`, from `ApiKey::request_header_version`) and return its
/// length: the body starts there.
pub fn walk_header(header_version: i16, frame: &[u8]) -> Result<usize, GuardError> {
    let message = &schema::REQUEST_HEADER;
    if !message.covers(header_version) {
        return Err(GuardError::UnknownHeader {
            version: header_version,
        });
    }
    walk(message, header_version, frame)
}

fn walk(message: &Message, version: i16, buf: &[u8]) -> Result<usize, GuardError> {
    let mut walker = Walker {
        buf,
        pos: 0,
        base: 0,
        version,
        flexible: message.is_flexible(version),
    };
    walker.fields(message.fields)?;
    Ok(walker.pos)
}

/// A cursor over untrusted bytes that only ever moves forward through
/// lengths it has checked. Invariant: `pos <= buf.len()`.
struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the checked slice, for error messages.
    base: usize,
    version: i16,
    flexible: bool,
}

impl<'a> Walker<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The next `n` bytes, or `Truncated` if the frame ends first.
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], GuardError> {
        let truncated = GuardError::Truncated {
            field,
            offset: self.offset(),
            needed: n,
            remaining: self.remaining(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], GuardError> {
        let bytes = self.take(N, field)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn int16(&mut self, field: &'static str) -> Result<i16, GuardError> {
        self.array(field).map(i16::from_be_bytes)
    }

    fn int32(&mut self, field: &'static str) -> Result<i32, GuardError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// An unsigned varint, decoded as Kafka and `kafka-protocol` do (the
    /// fifth byte's bits above 32 are dropped), refused past five bytes.
    fn uvarint(&mut self, field: &'static str) -> Result<u32, GuardError> {
        let offset = self.offset();
        let mut value = 0u32;
        for i in 0..UVARINT_BYTES_MAX {
            let [byte] = self.array(field)?;
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::VarintTooLong { field, offset })
    }

    /// A length or count: classic (`int16` for strings, `int32` otherwise,
    /// -1 = null) or compact (unsigned varint of length + 1, 0 = null).
    /// `None` is null.
    fn length(
        &mut self,
        field: &'static str,
        kind: &Kind,
        compact: bool,
    ) -> Result<Option<usize>, GuardError> {
        let offset = self.offset();
        let length = match (compact, kind) {
            (true, _) => i64::from(self.uvarint(field)?) - 1,
            (false, Kind::String) => i64::from(self.int16(field)?),
            (false, _) => i64::from(self.int32(field)?),
        };
        match length {
            -1 => Ok(None),
            0.. => usize::try_from(length)
                .map(Some)
                .map_err(|_| GuardError::InvalidLength {
                    field,
                    offset,
                    length,
                }),
            _ => Err(GuardError::InvalidLength {
                field,
                offset,
                length,
            }),
        }
    }

    /// The fixed-order fields present in this version, then (flexible
    /// versions) the tagged-field section.
    fn fields(&mut self, fields: &'static [Field]) -> Result<(), GuardError> {
        let version = self.version;
        for field in fields
            .iter()
            .filter(|f| f.tag.is_none() && f.present(version))
        {
            let compact = self.flexible && !field.never_compact;
            if matches!(field.kind, Kind::Struct(_)) && version >= field.null_since {
                // A nullable struct: an int8 marker, -1 for null, then the
                // struct (DescribeTopicPartitions' cursor).
                let [marker] = self.array(field.name)?;
                if (marker as i8) < 0 {
                    continue;
                }
            }
            self.value(field.name, &field.kind, compact)?;
        }
        if self.flexible {
            self.tagged_fields(fields)?;
        }
        Ok(())
    }

    fn value(
        &mut self,
        field: &'static str,
        kind: &'static Kind,
        compact: bool,
    ) -> Result<(), GuardError> {
        match (kind, kind.fixed_width()) {
            (_, Some(width)) => self.take(width, field).map(drop),
            (Kind::Array(element), None) => self.elements(field, element, compact),
            (Kind::Struct(fields), None) => self.fields(fields),
            (_, None) => self.blob(field, kind, compact),
        }
    }

    /// A string or bytes field: its length, then that many bytes.
    fn blob(&mut self, field: &'static str, kind: &Kind, compact: bool) -> Result<(), GuardError> {
        let offset = self.offset();
        let Some(length) = self.length(field, kind, compact)? else {
            return Ok(());
        };
        if *kind == Kind::String && length > STRING_BYTES_MAX {
            let length = i64::try_from(length).unwrap_or(i64::MAX);
            return Err(GuardError::InvalidLength {
                field,
                offset,
                length,
            });
        }
        self.take(length, field).map(drop)
    }

    /// An array: its count, checked against the bytes left before any
    /// element is looked at, then every element.
    fn elements(
        &mut self,
        field: &'static str,
        element: &'static Kind,
        compact: bool,
    ) -> Result<(), GuardError> {
        let offset = self.offset();
        let Some(count) = self.length(field, &Kind::Array(element), compact)? else {
            return Ok(());
        };
        self.check_count(field, offset, count)?;
        if let Some(width) = element.fixed_width() {
            return self.take(count.saturating_mul(width), field).map(drop);
        }
        for _ in 0..count {
            self.value(field, element, compact)?;
        }
        Ok(())
    }

    /// Kafka's rule: a collection cannot have more elements than there are
    /// bytes left, since every element takes at least one.
    fn check_count(
        &self,
        field: &'static str,
        offset: usize,
        count: usize,
    ) -> Result<(), GuardError> {
        if count > self.remaining() {
            return Err(GuardError::CountTooLarge {
                field,
                offset,
                count,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    /// KIP-482 tagged fields: a count, then per field its tag, its size and
    /// that many bytes.
    fn tagged_fields(&mut self, fields: &'static [Field]) -> Result<(), GuardError> {
        let offset = self.offset();
        let count = self.uvarint(TAGGED_FIELDS)? as usize;
        self.check_count(TAGGED_FIELDS, offset, count)?;
        for _ in 0..count {
            self.tagged_field(fields)?;
        }
        Ok(())
    }

    fn tagged_field(&mut self, fields: &'static [Field]) -> Result<(), GuardError> {
        let tag = self.uvarint(TAGGED_FIELDS)?;
        let size = self.uvarint(TAGGED_FIELDS)? as usize;
        let base = self.offset();
        let bytes = self.take(size, TAGGED_FIELDS)?;
        let Some(field) = fields.iter().find(|f| f.tag == Some(tag)) else {
            return Ok(()); // unknown: kept as raw bytes by Kafka and the decoder
        };
        if !field.present(self.version) {
            let (field, version) = (field.name, self.version);
            return Err(GuardError::TagNotValid {
                field,
                tag,
                version,
            });
        }
        self.tagged_value(field, bytes, base)
    }

    /// A known tagged field's value must fill its declared size exactly:
    /// the decoder reads it by its schema from the main buffer, so any
    /// disagreement would shift everything after it.
    fn tagged_value(
        &self,
        field: &'static Field,
        bytes: &'a [u8],
        base: usize,
    ) -> Result<(), GuardError> {
        let mut inner = Walker {
            buf: bytes,
            pos: 0,
            base,
            version: self.version,
            flexible: true, // tagged values always use the flexible encoding
        };
        inner.value(field.name, &field.kind, true)?;
        if inner.pos != bytes.len() {
            return Err(GuardError::TaggedSizeMismatch {
                field: field.name,
                size: bytes.len(),
                used: inner.pos,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
