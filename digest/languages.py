"""A reader's summary language (``language = "German"``, ``"pt-BR"``) as a BCP 47 tag for HTML's ``lang``.

The setting is what the LLM's prompt says (a language name or tag, ``digest.subscribers.valid_language``);
screen readers need the tag, to read a German summary with a German voice. A tag is taken as written with
its subtags' usual case (``PT-br`` is ``pt-BR``); a name is looked up in a short table of the languages
summaries are most often asked in, by its English name or its own (``Deutsch``); any other name is ``""``,
which HTML reads as "language unknown": better than the English the email itself is written in.
"""

from __future__ import annotations

import re

ENGLISH = "en"

_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?", re.IGNORECASE)  # language, script, region

_NAMES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "français": "fr", "francais": "fr",
    "spanish": "es", "español": "es", "espanol": "es", "castellano": "es", "italian": "it", "italiano": "it",
    "portuguese": "pt", "português": "pt", "portugues": "pt", "brazilian portuguese": "pt-BR",
    "european portuguese": "pt-PT", "dutch": "nl", "nederlands": "nl", "flemish": "nl-BE", "danish": "da",
    "dansk": "da", "swedish": "sv", "svenska": "sv", "norwegian": "no", "norsk": "no", "norwegian bokmål": "nb",
    "bokmål": "nb", "nynorsk": "nn", "finnish": "fi", "suomi": "fi", "icelandic": "is", "íslenska": "is",
    "polish": "pl", "polski": "pl", "czech": "cs", "čeština": "cs", "slovak": "sk", "slovenčina": "sk",
    "slovenian": "sl", "slovene": "sl", "hungarian": "hu", "magyar": "hu", "romanian": "ro", "română": "ro",
    "bulgarian": "bg", "croatian": "hr", "hrvatski": "hr", "serbian": "sr", "srpski": "sr", "bosnian": "bs",
    "greek": "el", "ελληνικά": "el", "russian": "ru", "русский": "ru", "ukrainian": "uk", "українська": "uk",
    "belarusian": "be", "lithuanian": "lt", "latvian": "lv", "estonian": "et", "eesti": "et", "catalan": "ca",
    "català": "ca", "basque": "eu", "euskara": "eu", "galician": "gl", "galego": "gl", "irish": "ga",
    "welsh": "cy", "cymraeg": "cy", "turkish": "tr", "türkçe": "tr", "arabic": "ar", "العربية": "ar",
    "hebrew": "he", "עברית": "he", "persian": "fa", "farsi": "fa", "فارسی": "fa", "urdu": "ur", "hindi": "hi",
    "हिन्दी": "hi", "bengali": "bn", "bangla": "bn", "tamil": "ta", "telugu": "te", "marathi": "mr",
    "punjabi": "pa", "gujarati": "gu", "kannada": "kn", "malayalam": "ml", "nepali": "ne", "sinhala": "si",
    "chinese": "zh", "中文": "zh", "mandarin": "zh", "simplified chinese": "zh-Hans", "简体中文": "zh-Hans",
    "traditional chinese": "zh-Hant", "繁體中文": "zh-Hant", "cantonese": "yue", "japanese": "ja", "日本語": "ja",
    "korean": "ko", "한국어": "ko", "vietnamese": "vi", "tiếng việt": "vi", "thai": "th", "ไทย": "th",
    "indonesian": "id", "bahasa indonesia": "id", "malay": "ms", "bahasa melayu": "ms", "filipino": "fil",
    "tagalog": "tl", "swahili": "sw", "kiswahili": "sw", "amharic": "am", "afrikaans": "af", "zulu": "zu",
    "latin": "la", "esperanto": "eo", "armenian": "hy", "georgian": "ka", "kazakh": "kk", "uzbek": "uz",
    "azerbaijani": "az", "albanian": "sq", "macedonian": "mk", "maltese": "mt", "luxembourgish": "lb",
}


def language_tag(language: str | None) -> str:
    """The BCP 47 tag of a summary language setting: ``en`` for none, ``""`` (unknown) for a name not known."""
    words = " ".join((language or "").split())
    if not words:
        return ENGLISH
    named = _NAMES.get(words.casefold())
    if named is not None:
        return named
    if _TAG.fullmatch(words):
        return "-".join(_cased(n, part) for n, part in enumerate(words.split("-")))
    return ""


def _cased(position: int, subtag: str) -> str:
    """``pt``, ``Hans``, ``BR``: the case BCP 47 writes each subtag in."""
    if position == 0:
        return subtag.lower()
    return subtag.title() if len(subtag) == 4 else subtag.upper()


def is_english(tag: str) -> bool:
    """``en``, ``en-GB``: text the English email's own ``lang`` already describes."""
    return tag.split("-")[0] == ENGLISH
