"""Language-independent cue tokens for the classifier.

A word model learns "talk to" in English from English examples and nothing
about "wenden Sie sich an".  These small multilingual lexicons map the
phrases that carry each intent, in the languages triage serves, onto shared
tokens (``cuereferral``, ``cuedecline``...), so that what the model learns
about a cue in one language carries over to the others.  The tokens are
features, weighed by the model like any other word; they decide nothing on
their own.
"""

from __future__ import annotations

import re

from .alternation import first_char_dispatch, ignorecase_fold

_CUES: dict[str, str] = {
    "referral": (
        r"talk to|speak (?:to|with)|reach out to|get in touch with|contact (?:him|her|them)|please contact|you(?:'ll| will)? (?:want|need) to (?:talk|speak)|"
        r"the (?:right|best) (?:person|contact)|right person (?:is|would be)|person you want|you want \w+|is (?:the one|who you want|your (?:guy|gal|person))|"
        r"(?:he|she|they)(?:'s| is| are) (?:the one|responsible|in charge)|(?:handles|owns|runs|manages|looks after|takes care of) (?:this|that|it|our|the)|"
        r"cc'?d|copying|copied|looping in|loop in|forwarded (?:this|your)|passed (?:this|your)|successor|replacement|taken over|took over|"
        r"wenden sie sich|ansprechpartner|zuständig ist|kümmert sich|in cc|in kopie|nachfolger|weitergeleitet|leitet|verantwortet|"
        r"contactez|contacter|la bonne personne|le bon interlocuteur|s'occupe|en copie|successeur|remplaçant|transmis|voyez avec|"
        r"hable con|habla con|contacte a|contacta a|contactá|escríbale|encargad[oa]|la persona indicada|sucesor|le paso el contacto|copio a|lleva (?:eso|el tema)|"
        r"обратитесь|обращайтесь|свяжитесь|пишите|напишите|позвоните ему|позвоните ей|отвечает за|занимается|в копии|преемник|передал|вам нужен|вам нужна|это к|"
        r"rivolgersi|contatti|scriva a|neem contact op|opvolger|kontakta|skontaktuj|następc|entre em contato|fale com|"
        r"il mio collega|la mia collega|la collega|il collega|le inoltro|biglietto da visita|si occupa|referente|"
        r"card attached|attached (?:her|his) (?:card|details)|visitenkarte|carte de visite|tarjeta de contacto|визитк|"
        r"mijn collega|min kollega|moje kolegin|mój kolega|meu colega|minha colega|"
        r"kontakt (?:til|med)|ta kontakt med|kontaktujte|obraťte se|ota yhteyttä|yhteyshenkilö|iletişime geç|ile görüşün|"
        r"contactați|vorbiți cu|keresse|forduljon|请联系|联系人"
    ),
    "interest": (
        r"\bcall\b|meeting|\bdemo\b|pricing|price|cost|quote|send (?:me|over|us)|deck|proposal|schedule|calendar|availab|\bslot|zoom|teams|"
        r"let'?s (?:talk|chat|speak)|happy to (?:chat|talk)|keen|sounds good|tell me more|more info|right person actually|that'?s me|"
        r"termin|unterlagen|angebot|was kostet|preis|anrufen|rufen sie|gespräch|gerne|interessiert|"
        r"rendez-vous|rdv|tarif|prix|appel|appelez|démo|documentation|intéress|disponible|"
        r"llamada|reunión|propuesta|precio|cuánto|cotización|agendar|llámeme|me interesa|"
        r"созвон|позвоните мне|коммерческое предложение|кп\b|сколько стоит|встреч|демо|интересно|пришлите|"
        r"prezzi|chiamata|preventivo|prijs|offerte|pris|spotkanie|cennik|preço|reunião|"
        r"mi interessa|quanto costa|sentirci|meer info|wat kost|afspraak|bellen|sta er (?:wel )?voor open|"
        r"tenho interesse|quanto custa|podemos conversar|ligação|møde|ring mig|gerne høre|gjerne høre|"
        r"jestem zainteresowan|ile kosztuje|ofert|máme zájem|kolik stojí|schůzk|kiinnostaa|hinta|palaveri|"
        r"ilgileniyoruz|fiyat|görüşme|toplant|suntem interesați|ofertă|întâlnire|"
        r"érdekel|árajánlat|megbeszél|感兴趣|报价|价格|电话|boka ett möte|ring mig|offert|mer information"
    ),
    "decline": (
        r"not interested|no interest|no thanks|no thank you|not for us|no need|not a (?:fit|priority)|no budget|not looking|"
        r"remove (?:me|my)|unsubscribe|\bstop\b|take me off|do not (?:contact|email)|don'?t (?:contact|email)|mailing list|"
        r"already (?:use|have|work|signed)|we use|in-house|happy with|just signed|preferred (?:supplier|vendor)|procurement (?:policy|portal)|"
        r"kein (?:interesse|bedarf)|nicht interessiert|streichen|abmelden|verteiler|bereits|schon eine lösung|keine mails|"
        r"pas intéressé|pas intéressés|pas d'intérêt|désinscri|retirez|déjà (?:un|une|équipé)|pas rendus|pas besoin|"
        r"no (?:nos|me) interesa|no estamos interesad|dar de baja|dé de baja|denme de baja|no me escriban|ya (?:tenemos|contamos|usamos)|tercerizamos|"
        r"не интересно|неинтересно|не актуально|отпишите|не пишите|уже (?:есть|стоит|используем)|не нужно|не планируется|"
        r"non (?:siamo|sono) interessat|niet geïnteresseerd|inte intresserad|nie jesteśmy zainteresowani|não (?:temos|estamos) interess|"
        r"спасибо,? но нет|смысла не вижу|не планируем|не интересует|"
        r"non mi interessa|abbiamo già|cancellatemi|geen interesse|hebben al|nee,? bedankt|uitschrijven|"
        r"não tenho interesse|já temos|já usamos|descadastr|nej tak|nei takk|ikke interesse|har allerede|afmeld|avmeld|"
        r"nej tack|vi har redan|avregistrera|ta bort mig|inte aktuellt|"
        r"mamy już|nie,? dziękuję|nemáme zájem|už máme|odhlásit|ei kiinnosta|meillä on jo|ilgilenmiyoruz|zaten kullan|"
        r"nu suntem interesa|avem deja|dezabon|nem érdekel|már van|leiratkoz|不需要|不感兴趣|已经有"
    ),
    "unknown": (
        r"no idea who|not sure who|don'?t know who|wrong person|not me\b|keine ahnung|weiß nicht,? wer|falsche person|"
        r"aucune idée|je ne sais pas qui|pas la bonne personne|no sé quién|no se quien|persona equivocada|"
        r"не знаю,? кто|не я\b|не по адресу|non so chi|weet niet wie|"
        r"geen idee wie|não faço ideia|não sei quem|não sou eu|ved ikke hvem|vet ikke hvem|non sono io|nie wiem,? kto|nevím,? kdo|"
        r"en tiedä kuka|kim olduğunu bilmiyorum|nu știu cine|nem tudom,? ki|不知道是谁|"
        r"ingen aning om vem|ingen aning vem|vet inte vem|inte på mitt bord|fel person|inte rätt person|ikke den rette|forkerte person"
    ),
    "absence": (
        r"out of (?:the )?office|on (?:vacation|holiday|leave|annual leave|parental leave|maternity|paternity)|away (?:from|until|on)|"
        r"back (?:on|in|from)|return(?:ing)? (?:on|to)|limited access|no access to (?:my )?email|"
        r"abwesend|abwesenheit|urlaub|nicht im büro|außer haus|elternzeit|zurück|wieder im büro|"
        r"absent|absence|congé|vacances|de retour|hors du bureau|"
        r"vacaciones|fuera de la oficina|ausente|licencia|regreso|de vuelta|"
        r"отпуск|вернусь|нет на месте|не будет в офисе|командировк|отсутств|больничн|"
        r"ferie|fuori sede|afwezig|vakantie|ledig|semester|urlop|nieobecn|férias|ausente até"
    ),
    "left": (
        r"no longer (?:with|at|work)|left (?:the company|\w+ in|\w+ on)|have left|has left|last day|"
        r"nicht mehr (?:im|bei|für)|verlassen|ne (?:fait|travaille) plus|a quitté|ai quitté|ya no (?:trabaj|forma|estoy)|"
        r"больше не работа|уволил|покинул|non lavor|niet meer werkzaam|arbetar inte längre|nie pracuj|não trabalh"
    ),
}
# one pass over the text for every kind: a named group per kind
# (matched against lower-cased text: case-insensitive matching is several times slower in ``re``)
_COMBINED = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CUES.items()))
_NEGATED_INTEREST = re.compile(r"\b(not|no|never|nicht|kein\w*|pas|ne|no|не|non|niet|inte|nie|não)\b\W+(?:\w+\W+){0,2}(interest|interess|intéress|interes|интерес)", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")

_CUE_DISPATCH, _CUE_KIND = first_char_dispatch(list(_CUES.items()))
_NEGATED_INTEREST_FOLDED = first_char_dispatch([("", _NEGATED_INTEREST.pattern)], tagged=False)[0]
# a phone number may start with "+", but then one starts at the digit after it too
_PHONE_DIGIT = re.compile(r"\d[\d\s().-]{7,}\d")


def cue_tokens(text: str, *, sender_addr: str = "") -> list[str]:
    """Shared tokens for the cues found in ``text`` (one per kind, repeated up to 3 times).

    >>> cue_tokens("Not interested, please remove me.")
    ['cuedecline', 'cuedecline', 'cuenegint', 'cueshort']
    """
    lowered = text.lower()
    counts = dict.fromkeys(_CUES, 0)
    for m in _CUE_DISPATCH.finditer(lowered):
        counts[_CUE_KIND[m.lastindex or 0]] += 1
    tokens: list[str] = []
    for name, hits in counts.items():
        if hits:
            tokens += [f"cue{name}"] * min(hits, 3)
    if _NEGATED_INTEREST_FOLDED.search(ignorecase_fold(text, lowered)):
        tokens.append("cuenegint")
    if "@" in text:
        sender = sender_addr.lower()
        if any(e.lower() != sender for e in _EMAIL.findall(text)):
            tokens.append("cueotheremail")
    if _PHONE_DIGIT.search(text):
        tokens.append("cuephone")
    words = len(text.split())
    tokens.append("cueshort" if words <= 5 else "cuelong" if words > 80 else "cuemedium")
    return tokens
