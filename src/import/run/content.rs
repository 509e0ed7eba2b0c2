//! Event contents of imported messages: text, notices, uploaded media.

use ruma::UserId;
use serde_json::{Value, json};

use super::{describe, hs_error};
use crate::{
    import::{Export, ImportError, Kind, Message, report::Outcome, source::MediaStore},
    matrix::MatrixClient,
};

/// The event content of one message; uploads its media if the export has the file.
pub(super) async fn content_for(
    client: &MatrixClient,
    export: &Export,
    m: &Message,
    sender: Option<&UserId>,
    media: &mut MediaStore,
    max_media: u64,
    outcome: &mut Outcome,
) -> Result<Value, ImportError> {
    let text = |msgtype: &str, body: String| json!({"msgtype": msgtype, "body": body});
    Ok(match m.kind {
        Kind::System => text(
            "m.notice",
            with_exporter(&m.body, export.exporter.as_deref()),
        ),
        Kind::Deleted => text("m.notice", m.body.clone()),
        Kind::Text if location(&m.body).is_some() && !m.edited => {
            let geo = location(&m.body).unwrap_or_default();
            json!({"msgtype": "m.location", "body": m.body, "geo_uri": geo})
        }
        Kind::Text if m.edited => text("m.text", format!("{} (edited)", m.body)),
        Kind::Text => text("m.text", m.body.clone()),
        Kind::Media => {
            let Some(attachment) = &m.attachment else {
                let mut body = "(media not included in the export)".to_owned();
                if !m.body.is_empty() {
                    body = format!("{body}\n{}", m.body);
                }
                return Ok(text("m.notice", body));
            };
            let filename = attachment.filename.rsplit('/').next().unwrap_or_default();
            let data = match media.read(&attachment.filename, max_media) {
                Ok(Some(data)) => data,
                Ok(None) => {
                    outcome.problems.push(format!(
                        "{}: {} is not in the export",
                        describe(m),
                        attachment.filename
                    ));
                    return Ok(text(
                        "m.notice",
                        format!("(missing from the export: {filename})"),
                    ));
                }
                Err(e) => {
                    outcome.problems.push(format!("{}: {e}", describe(m)));
                    return Ok(text("m.notice", format!("(not imported: {filename})")));
                }
            };
            let mime = mime_of(filename);
            let size = data.len();
            let url = client
                .upload(sender, data, mime, Some(filename))
                .await
                .map_err(|e| hs_error(&format!("uploading {filename}"), &e))?;
            let mut content = json!({
                "msgtype": msgtype_of(mime),
                "body": if m.body.is_empty() { filename.to_owned() } else { m.body.clone() },
                "filename": filename,
                "url": url,
                "info": {"mimetype": mime, "size": size},
            });
            if m.edited {
                content["body"] = json!(format!(
                    "{} (edited)",
                    content["body"].as_str().unwrap_or_default()
                ));
            }
            content
        }
    })
}

/// The `geo:` URI of a shared location: WhatsApp's `location: https://maps.google.com/?q=LAT,LON`
/// (any case) or the `Location: LAT, LON` text made from a Telegram location.
pub fn location(body: &str) -> Option<String> {
    let (label, rest) = body.split_once(':')?;
    if !label.eq_ignore_ascii_case("location") || body.contains('\n') {
        return None;
    }
    let rest = rest.trim();
    let coords = match rest.split_once("?q=") {
        Some((site, q)) if site.contains("maps.google.") => q,
        Some(_) => return None,
        None => rest,
    };
    let (lat, lon) = coords.split_once(',')?;
    let (lat, lon): (f64, f64) = (lat.trim().parse().ok()?, lon.trim().parse().ok()?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
        .then(|| format!("geo:{lat},{lon}"))
}

/// A WhatsApp system line with "You" (the exporter, in the export's own words) replaced by the
/// exporter's name, which is what the room's readers need.
pub fn with_exporter(body: &str, exporter: Option<&str>) -> String {
    let Some(name) = exporter else {
        return body.to_owned();
    };
    if let Some(rest) = body.strip_prefix("You ") {
        return format!("{name} {rest}");
    }
    if let Some(rest) = body.strip_suffix(" you") {
        return format!("{rest} {name}");
    }
    // French conjugates for "vous": name it rather than rewrite the sentence.
    let words: Vec<&str> = body.split(' ').collect();
    if words.iter().any(|w| w.eq_ignore_ascii_case("vous")) {
        return format!("{body} (vous : {name})");
    }
    body.to_owned()
}

/// A MIME type from a file name's extension.
pub fn mime_of(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "3gp" => "video/3gpp",
        "opus" | "ogg" | "oga" => "audio/ogg",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "pdf" => "application/pdf",
        "vcf" => "text/vcard",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

fn msgtype_of(mime: &str) -> &'static str {
    match mime.split('/').next() {
        Some("image") => "m.image",
        Some("video") => "m.video",
        Some("audio") => "m.audio",
        _ => "m.file",
    }
}

#[cfg(test)]
mod tests {
    use super::{location, mime_of, msgtype_of, with_exporter};

    #[test]
    fn shared_locations_become_geo_uris() {
        assert_eq!(
            location("location: https://maps.google.com/?q=48.8566,2.3522").as_deref(),
            Some("geo:48.8566,2.3522")
        );
        assert_eq!(
            location("Location: https://maps.google.com/?q=-33.86,151.2").as_deref(),
            Some("geo:-33.86,151.2")
        );
        assert_eq!(
            location("Location: 45.764, 4.8357").as_deref(),
            Some("geo:45.764,4.8357")
        );
        assert_eq!(location("location: somewhere nice"), None);
        assert_eq!(location("Location: https://evil.example/?q=1,2"), None);
        assert_eq!(location("Location: 95, 4"), None);
        assert_eq!(location("Meet at location: 1,2"), None);
    }

    #[test]
    fn you_in_system_lines_becomes_the_exporter() {
        assert_eq!(
            with_exporter("Dmitry S added you", Some("Elon")),
            "Dmitry S added Elon"
        );
        assert_eq!(with_exporter("You left", Some("Elon")), "Elon left");
        assert_eq!(
            with_exporter("Dmitry vous a ajouté", Some("Zoé")),
            "Dmitry vous a ajouté (vous : Zoé)"
        );
        assert_eq!(
            with_exporter("Dmitry S added you", None),
            "Dmitry S added you"
        );
        assert_eq!(
            with_exporter("Your security code with Ann changed.", Some("E")),
            "Your security code with Ann changed."
        );
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(mime_of("IMG-20220318-WA0002.jpg"), "image/jpeg");
        assert_eq!(msgtype_of(mime_of("PTT-20220323-WA0003.opus")), "m.audio");
        assert_eq!(msgtype_of(mime_of("VID-1.MP4")), "m.video");
        assert_eq!(msgtype_of(mime_of("Resume.pdf")), "m.file");
        assert_eq!(mime_of("noext"), "application/octet-stream");
    }
}
