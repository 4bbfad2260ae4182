//! The [`ActiveUserEntry`] trait and the description of its fields.

use crate::client_ip::ExtractContext;
use crate::codec::{DecodeError, Decoder, EncodeError, Encoder};
use crate::request::RequestHead;

/// One field of an entry, as [`ActiveUserEntry::fields`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// The stored name (the Rust field name, or its `rename`).
    pub name: &'static str,
    /// Whether the field may be absent (its type is `Option<_>`).
    pub optional: bool,
    /// Whether the stores keep the set of its active values (`#[active_users(index)]` or
    /// `#[active_users(distinct)]`), which distinct counts need.
    pub indexed: bool,
    /// Whether the stores also keep the entries of each value (`#[active_users(index)]`),
    /// which per-value counts need.
    pub grouped: bool,
    /// Whether the JSON API must never show it (`#[active_users(hidden)]`).
    pub hidden: bool,
    /// Whether the field is a credential (`#[active_users(secret)]`): the store keeps a
    /// keyed hash of its value, never the value (see [`ConfigBuilder::secret_key`](crate::ConfigBuilder::secret_key)).
    /// A secret field is also hidden.
    pub secret: bool,
    /// How its stored form reads without the Rust type ([`FieldValue::KIND`](crate::FieldValue::KIND)).
    pub kind: crate::ValueKind,
    /// The most bytes its stored value may take: `#[active_users(max_len = N)]`, or
    /// [`DEFAULT_MAX_LEN`](crate::codec::DEFAULT_MAX_LEN). Longer text is cut (see
    /// [`codec`](crate::codec)); the visitor is still recorded.
    pub max_len: usize,
}

/// A record of one active visitor: who, from where, with which extra dimensions.
///
/// Derive it; writing the impl by hand is possible but the derive keeps the six methods
/// consistent. The derive reads these attributes on each named field:
///
/// | attribute | the value comes from |
/// |---|---|
/// | `#[from_header("X-Service-Id")]` | the first value of that header (the name is checked and lowercased at compile time) |
/// | `#[from_cookie("sessionid")]` | that cookie of the `Cookie` headers |
/// | `#[from_query("ref")]` | that query parameter, percent-decoded |
/// | `#[from_extension]` | a value of the field's type in the request extensions (what an auth layer inserted) |
/// | `#[from_client_ip]` | the client IP: the peer address, or forwarded headers from [trusted proxies](crate::TrustedProxies); the type is `IpAddr` |
/// | `#[from_fn(path::to::f)]` | a function `fn(&RequestHead<'_>) -> Option<T>`; for a `String` field it may be `fn f<'a>(head: &RequestHead<'a>) -> Option<&'a str>`, text borrowed from the request, recorded without a `String` |
/// | `#[active_users(flatten)]` | another entry embedded whole: its fields are this entry's fields |
///
/// and these options, combinable as `#[active_users(index, rename = "user")]`:
///
/// | option | effect |
/// |---|---|
/// | `rename = "name"` | the stored and shown name of the field (1 to 64 of `A-Z a-z 0-9 _ - .`) |
/// | `index` | the store keeps the field's active values and the entries of each value: distinct counts and per-value counts (for dimensions with few values, like a service id) |
/// | `distinct` | the store keeps the field's active values only: distinct counts (for dimensions with many values, like a user id) |
/// | `hidden` | the JSON API never shows the field |
/// | `secret` | a credential (a session id): the store keeps a keyed hash of the value, never the value, and the field is hidden; it must be a `String` or `Option<String>` |
/// | `max_len = N` | the most bytes the stored value may take (32 to 4096; default [`DEFAULT_MAX_LEN`](crate::codec::DEFAULT_MAX_LEN), 600) |
///
/// A field of type `Option<T>` may be absent. A field of any other type is required: a request
/// without it yields no entry and is not recorded, which is how "only logged-in users" is
/// written. A value that is not valid UTF-8 or does not [parse](crate::FieldValue::parse) as
/// the field's type counts as absent. A value longer than the field's limit is cut, never
/// dropped: text at a character boundary, and an identity (`index`/`distinct`) with a hash of
/// the whole value so that two long ids stay two users (the rule is in [`codec`](crate::codec)).
///
/// # Examples
///
/// The Python package's custom entry, which adds a service id to the default dimensions:
///
/// ```
/// use active_users::{ActiveUserEntry, DefaultEntry, ExtractContext, User};
///
/// #[derive(Debug, ActiveUserEntry)]
/// struct ServiceEntry {
///     #[active_users(flatten)]
///     base: DefaultEntry,
///     #[from_header("X-Service-Id")]
///     #[active_users(index)]
///     service_id: Option<String>,
/// }
///
/// let mut request = http::Request::get("/").header("x-service-id", "billing").body(()).unwrap();
/// request.extensions_mut().insert(User::new("42"));
/// let entry = ServiceEntry::from_request(&request, &ExtractContext::default()).unwrap();
/// assert_eq!(entry.service_id.as_deref(), Some("billing"));
/// let names: Vec<_> = ServiceEntry::fields().iter().map(|f| f.name).collect();
/// assert_eq!(names, ["user_id", "session_id", "ip", "username", "service_id"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an entry",
    label = "#[active_users(flatten)] embeds an entry: derive `ActiveUserEntry` for this type",
    note = "only types that implement `active_users::ActiveUserEntry` can be flattened"
)]
pub trait ActiveUserEntry: Sized + Send + Sync + 'static {
    /// The fields in stored order, embedded entries' fields in place.
    fn fields() -> &'static [Field];

    /// Extracts an entry from a request; `None` when a required field is absent.
    fn extract(head: &RequestHead<'_>, cx: &ExtractContext) -> Option<Self>;

    /// Writes every field, in order. Called by [`encode`](ActiveUserEntry::encode).
    fn encode_fields(&self, enc: &mut Encoder<'_>);

    /// Reads every field, in order. Called by [`decode`](ActiveUserEntry::decode).
    ///
    /// # Errors
    /// When a field is missing, truncated or invalid.
    fn decode_fields(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// Appends the text of every field, in order; `None` for an absent field.
    fn write_values(&self, out: &mut Vec<Option<String>>);

    /// Extracts the entry of a request and writes it with `enc`, as [`extract`] then
    /// [`encode_fields`] would, without building the entry; `None` when a required field is
    /// absent (then `enc` holds part of a member, to be thrown away). This is how a request is
    /// recorded. The derive writes it so that a text field's value is copied from the request
    /// into the member, not into a `String` first; the default builds the entry.
    ///
    /// [`extract`]: ActiveUserEntry::extract
    /// [`encode_fields`]: ActiveUserEntry::encode_fields
    fn encode_request(
        head: &RequestHead<'_>,
        cx: &ExtractContext,
        enc: &mut Encoder<'_>,
    ) -> Option<()> {
        Self::extract(head, cx)?.encode_fields(enc);
        Some(())
    }

    /// Extracts an entry from a request with any body type.
    fn from_request<B>(request: &http::Request<B>, cx: &ExtractContext) -> Option<Self> {
        Self::extract(&RequestHead::from(request), cx)
    }

    /// Extracts an entry from request parts.
    fn from_parts(parts: &http::request::Parts, cx: &ExtractContext) -> Option<Self> {
        Self::extract(&RequestHead::from(parts), cx)
    }

    /// Encodes the entry into one store member (see [`codec`](crate::codec)).
    ///
    /// # Errors
    /// [`EncodeError::ValueTooLong`] when a required field's value is longer than its limit
    /// and is not text (text is cut to the limit instead).
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut member = Vec::with_capacity(64);
        self.encode_into(&mut member)?;
        Ok(member)
    }

    /// Encodes the entry into `out`, replacing its contents; reuses its allocation.
    ///
    /// # Errors
    /// As [`encode`](ActiveUserEntry::encode); `out` then holds an incomplete member.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_counting_cuts(self, out).map(|_| ())
    }

    /// Decodes a member written by [`encode`](ActiveUserEntry::encode). Never panics.
    ///
    /// # Errors
    /// When the bytes are not a member of this entry type.
    fn decode(member: &[u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(member)?;
        let entry = Self::decode_fields(&mut dec)?;
        dec.finish()?;
        Ok(entry)
    }

    /// The text of every field, in order; `None` for an absent field.
    fn values(&self) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(Self::fields().len());
        self.write_values(&mut out);
        out
    }

    /// Field names paired with their text values.
    fn named_values(&self) -> Vec<(&'static str, Option<String>)> {
        Self::fields()
            .iter()
            .map(|f| f.name)
            .zip(self.values())
            .collect()
    }

    /// The text of the field called `name`; `None` when there is no such field or it is absent.
    fn value(&self, name: &str) -> Option<String> {
        let index = Self::fields().iter().position(|f| f.name == name)?;
        self.values().into_iter().nth(index).flatten()
    }
}

/// Encodes `entry` into `out` and says how many values were cut to their field's limit.
pub(crate) fn encode_counting_cuts<E: ActiveUserEntry>(
    entry: &E,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let mut enc = Encoder::new(out, E::fields());
    entry.encode_fields(&mut enc);
    enc.finish()
}
