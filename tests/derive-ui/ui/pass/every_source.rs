use active_users::{ActiveUserEntry, DefaultEntry, ExtractContext, FieldValue, PeerAddr, RequestHead, User};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
struct Plan(String);

impl FieldValue for Plan {
    fn parse(text: &str) -> Option<Self> {
        Some(Plan(text.to_ascii_lowercase()))
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

#[derive(Debug, Clone, PartialEq)]
struct TenantId(u32);

impl FieldValue for TenantId {
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok().map(TenantId)
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.0.to_string());
    }
}

fn tenant(head: &RequestHead<'_>) -> Option<TenantId> {
    head.path().strip_prefix("/t/")?.split('/').next()?.parse().ok().map(TenantId)
}

/// Text borrowed from the request, for a `String` field.
fn section<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.path().rsplit('/').next()
}

#[derive(Debug, ActiveUserEntry)]
struct Everything {
    #[active_users(flatten)]
    base: DefaultEntry,
    #[from_header("X-Service-Id")]
    #[active_users(index, rename = "service")]
    service_id: Option<String>,
    #[from_query("ref")]
    referrer: Option<String>,
    #[from_cookie("plan")]
    plan: Option<Plan>,
    #[from_extension]
    tenant_from_auth: Option<u64>,
    #[from_fn(tenant)]
    tenant: TenantId,
    #[from_fn(section)]
    section: Option<String>,
    #[from_client_ip]
    #[active_users(hidden)]
    raw_ip: Option<IpAddr>,
    #[from_header("x-request-id")]
    request_id: Option<uuid::Uuid>,
    #[from_header("x-beta")]
    beta: Option<bool>,
    #[from_header("x-level")]
    r#type: Option<i16>,
    #[from_header("x-api-key")]
    #[active_users(secret)]
    api_key: Option<String>,
}

fn main() {
    let mut request = active_users::http::Request::get("/t/9/home?ref=mail")
        .header("x-service-id", "billing")
        .header("cookie", "plan=PRO; sessionid=s1")
        .header("x-request-id", "67e55044-10b1-426f-9247-bb680e5fe0c8")
        .header("x-beta", "true")
        .header("x-level", "-3")
        .body(())
        .unwrap();
    request.extensions_mut().insert(User::new("1").with_name("ann"));
    request.extensions_mut().insert(7u64);
    request.extensions_mut().insert(PeerAddr("127.0.0.1:1".parse().unwrap()));
    let entry = Everything::from_request(&request, &ExtractContext::default()).unwrap();
    assert_eq!(entry.tenant, TenantId(9));
    assert_eq!(entry.section.as_deref(), Some("home"));
    assert_eq!(entry.plan, Some(Plan("pro".into())));
    let names: Vec<_> = Everything::fields().iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "user_id", "session_id", "ip", "username", "service", "referrer", "plan",
            "tenant_from_auth", "tenant", "section", "raw_ip", "request_id", "beta", "type", "api_key"
        ]
    );
    let api_key = Everything::fields().last().unwrap();
    assert!(api_key.secret && api_key.hidden, "a secret is hidden");
    assert!(!Everything::fields()[4].secret);
    let member = entry.encode().unwrap();
    let back = Everything::decode(&member).unwrap();
    assert_eq!(back.base, entry.base);
    assert_eq!(back.r#type, Some(-3));
    assert_eq!(back.section.as_deref(), Some("home"));
}
