"""Texts for the demo project: the spec (labels, guidelines, rules) and review templates.

``make_review`` turns a random generator and an edge-case tag into one believable product review
together with its hidden ground truth (``truth``, the sentiment a careful reader would give) and
its surface sentiment (``literal``, which differs for sarcasm and negation).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROJECT_NAME = "Product review sentiment"
PROJECT_DESCRIPTION = (
    "Demo: customer reviews of gadgets and home goods, labeled by overall sentiment. "
    "Loaded by `accord demo`."
)
LABEL_KEYS = ("positive", "negative", "neutral", "mixed")
# Item metadata: where a review came from, and star ratings that fit its hidden label.
SOURCES = ("web", "mobile_app", "marketplace", "email_survey")
STARS = {"positive": (4, 5, 5), "negative": (1, 1, 2), "neutral": (3,), "mixed": (2, 3, 4)}

LABELS = (
    (
        "positive",
        "Positive",
        "The author is satisfied overall: praise, a recommendation, or a "
        "clearly good experience with the product.",
    ),
    (
        "negative",
        "Negative",
        "The author is dissatisfied overall: complaints, a return, a warning to other buyers.",
    ),
    (
        "neutral",
        "Neutral",
        "No clear sentiment either way: factual statements, delivery notes, too early to tell.",
    ),
    (
        "mixed",
        "Mixed",
        "Real praise and real criticism of different aspects, with neither clearly dominating.",
    ),
)

GUIDELINES = """\
# Product review sentiment

You will see one customer review at a time. Choose the label that best describes the author's
overall sentiment toward the **product** (not the seller or the courier, unless that is all the
review talks about).

## How to label

1. Read the whole review, including any emoji, before choosing.
2. Pick exactly one label: `positive`, `negative`, `neutral` or `mixed` (hotkeys 1-4).
3. If the review carries an edge-case tag, the rule for that tag is shown next to the text.
   Follow it.
4. If the spec does not tell you what to do, pick your best guess **and** mark the item
   *unclear* with a short comment. Those comments are how this spec gets better.

## Labels at a glance

- **positive**: satisfied overall ("works great, would buy again").
- **negative**: dissatisfied overall ("stopped working after a week, returned it").
- **neutral**: no sentiment either way ("arrived Tuesday, haven't tried it yet").
- **mixed**: real praise *and* real criticism, neither dominating ("great sound, awful battery").

## What does not matter

Star ratings in the metadata are often missing or inconsistent with the text: label the text.
Spelling, grammar and the language a review is written in do not change its label.
"""

RULES = {
    "sarcasm": (
        "Label the sentiment the author expresses toward the product. Sarcastic reviews often "
        "combine enthusiastic words with a description of a failure; read the whole review "
        "before choosing. Do not use `mixed` only because the tone and the content point in "
        "different directions. If you cannot tell whether a review is sarcastic, label it as "
        "written and mark it unclear."
    ),
    "negation": (
        'Judge the whole negated phrase, not the word after "not": "not bad" and "can\'t '
        'complain" are positive, "not great" and "not impressed" are negative. A review '
        'that is explicitly lukewarm ("not the best, not the worst") is `neutral`.'
    ),
    "mixed_language": (
        "Reviews that switch between languages (Spanish-English, Hindi-English, ...) are "
        "labeled as a whole, with the same criteria as English reviews. Do not mark them "
        "unclear only because of the language. Common slang carries strong sentiment: "
        "*paisa vasool* (worth the money) is positive, *bakwaas* (rubbish) is negative."
    ),
    "emoji_only": (
        "When a review is only emoji, label what the emoji conventionally convey: 👍 🔥 😍 "
        "are positive, 👎 😡 🤮 negative. A lone shrug or straight face is `neutral`. "
        "Opposing emoji together (😍👎) are `mixed`."
    ),
}

TAG_DESCRIPTIONS = {
    "sarcasm": "Praise that means the opposite (or criticism that is really praise).",
    "negation": 'Sentiment carried by a negated word: "not bad", "can\'t complain".',
    "mixed_language": "Code-mixed reviews: Spanish-English, Hindi-English (Hinglish).",
    "emoji_only": "The whole review is emoji.",
}

# Comments annotators leave when they flag an item as unclear, by who and which tag.
UNCLEAR_COMMENTS = {
    ("ana", "sarcasm"): (
        "Is sarcasm labeled by what is said or what is meant? I went with what is written.",
        "The rule says to label it as written if unsure. The words are positive, so positive?",
        "Could be sarcastic, could be a happy customer. Labeled the literal text.",
    ),
    ("ben", "sarcasm"): (
        "Is sarcasm labeled by what is said or what is meant? I went with the intent.",
        '"The sentiment the author expresses" is what they mean, not the literal words, right?',
        "Obviously sarcastic to me, but the rule doesn't say literal vs intended.",
    ),
    ("*", "sarcasm"): (
        "Sarcastic? The rule doesn't say whether to label the words or the intent.",
        "Not sure if this is sarcasm or a genuine review.",
    ),
    ("*", "negation"): ("Double negation, not sure which way this goes.",),
    ("*", "mixed_language"): ("Not sure what one of the words means here.",),
    ("*", "emoji_only"): ("Is a single emoji enough to call it positive?",),
    ("*", None): ("Borderline between neutral and mixed.", "Short review, hard to tell."),
}


@dataclass(frozen=True)
class Product:
    """A product with (aspect, praise, failure) triples; verbs agree with the subject "it"."""

    name: str
    facets: tuple[tuple[str, str, str], ...]


PRODUCTS = (
    Product(
        "phone charger",
        (
            (
                "charging speed",
                "charges my phone from flat to full in about an hour",
                "takes four hours to charge a phone",
            ),
            (
                "cable",
                "has a braided cable that feels indestructible",
                "has a cable that frays within a week",
            ),
            ("reliability", "stays cool even when charging overnight", "dies in a week"),
        ),
    ),
    Product(
        "set of wireless earbuds",
        (
            (
                "sound",
                "sounds far better than the price suggests",
                "sounds like a radio playing in another room",
            ),
            (
                "battery life",
                "lasts a full workday on one charge",
                "lasts about ninety minutes on a charge",
            ),
            (
                "connection",
                "pairs instantly with my phone and laptop",
                "drops the connection every few minutes",
            ),
        ),
    ),
    Product(
        "air fryer",
        (
            (
                "cooking performance",
                "makes crispy fries in fifteen minutes",
                "leaves half the fries raw",
            ),
            (
                "basket",
                "has a basket that goes straight in the dishwasher",
                "has a basket coating that peels after a few uses",
            ),
            (
                "build quality",
                "runs without any plastic smell",
                "smells like burning plastic every time",
            ),
        ),
    ),
    Product(
        "standing desk",
        (
            ("motor", "goes up and down smoothly and quietly", "grinds loudly every time it moves"),
            ("stability", "feels rock solid even at full height", "wobbles at standing height"),
            (
                "height memory",
                "remembers all four height presets",
                "forgets its height presets after every power cut",
            ),
        ),
    ),
    Product(
        "mechanical keyboard",
        (
            ("typing feel", "types beautifully", "double-types every third letter"),
            (
                "Bluetooth",
                "connects instantly over Bluetooth",
                "loses its Bluetooth pairing every morning",
            ),
            (
                "keycap quality",
                "has thick keycaps that feel premium",
                "has keycaps that go shiny within a month",
            ),
        ),
    ),
    Product(
        "coffee grinder",
        (
            (
                "grind consistency",
                "grinds evenly for espresso and pour-over alike",
                "grinds half powder, half boulders",
            ),
            ("noise level", "is quieter than my old one", "is loud enough to wake the whole house"),
            ("chaff control", "keeps the counter clean", "sprays grounds all over the counter"),
        ),
    ),
    Product(
        "smartwatch",
        (
            ("tracking", "tracks my runs accurately", "counts steps while I'm asleep"),
            ("battery life", "lasts almost a week per charge", "needs charging twice a day"),
            (
                "notification timing",
                "shows notifications the moment they arrive",
                "shows notifications minutes after my phone",
            ),
        ),
    ),
    Product(
        "yoga mat",
        (
            ("grip", "grips well even in hot yoga", "is slippery as ice once you sweat"),
            ("thickness", "cushions my knees nicely", "is thin enough to feel every floorboard"),
            (
                "durability",
                "still looks new after months of daily use",
                "sheds little foam crumbs everywhere",
            ),
        ),
    ),
    Product(
        "blender",
        (
            ("motor", "crushes ice in seconds", "smells of burning motor after thirty seconds"),
            ("jug", "has a jug that seals perfectly", "leaks from the base"),
            (
                "texture",
                "makes the smoothest smoothies I've had",
                "leaves chunks of frozen fruit in everything",
            ),
        ),
    ),
    Product(
        "desk lamp",
        (
            ("brightness", "lights my whole desk evenly", "is too dim to read by"),
            ("light quality", "gives a warm light that is easy on the eyes", "flickers constantly"),
            (
                "arm",
                "has an arm that stays exactly where I put it",
                "droops slowly until it points at the floor",
            ),
        ),
    ),
    Product(
        "robot vacuum",
        (
            ("suction", "picks up all the dog hair", "leaves crumbs in every corner"),
            (
                "navigation",
                "mapped the whole flat perfectly on the first run",
                "gets stuck under the sofa every single day",
            ),
            (
                "app",
                "has an app that is simple and reliable",
                "forgets the map of the house every other day",
            ),
        ),
    ),
    Product(
        "e-reader",
        (
            ("screen", "is easy on the eyes at night", "ghosts the previous page on every turn"),
            ("battery life", "lasts weeks between charges", "needs charging every two days"),
            ("software", "syncs my library without any fuss", "freezes mid-chapter"),
        ),
    ),
    Product(
        "water bottle",
        (
            ("insulation", "keeps ice for a whole day", "keeps nothing cold past lunchtime"),
            ("lid", "has a lid that seals perfectly", "leaks in my bag"),
            ("taste", "leaves no taste in the water", "makes water taste metallic"),
        ),
    ),
    Product(
        "power bank",
        (
            ("capacity", "charges my phone three times over", "barely charges my phone once"),
            (
                "recharge time",
                "recharges itself in a couple of hours",
                "takes a whole night to recharge",
            ),
            ("size", "fits in a jeans pocket", "weighs about as much as a brick"),
        ),
    ),
    Product(
        "webcam",
        (
            (
                "image quality",
                "looks sharp even in a dim room",
                "makes everyone look like a watercolour painting",
            ),
            (
                "frame rate",
                "stays smooth through long calls",
                "drops to five frames per second in every meeting",
            ),
            ("mount", "clips onto any monitor securely", "slides off the monitor constantly"),
        ),
    ),
    Product(
        "hair dryer",
        (
            ("airflow", "dries my hair in half the usual time", "takes forever to dry anything"),
            ("noise", "is surprisingly quiet", "sounds like a jet engine"),
            (
                "heat control",
                "has heat settings that make a real difference",
                "trips the fuse every time",
            ),
        ),
    ),
    Product(
        "office chair",
        (
            (
                "lumbar support",
                "keeps my back happy through long days",
                "gives me back pain by noon",
            ),
            ("gas lift", "holds its height all day", "sinks slowly throughout the day"),
            (
                "build",
                "feels sturdy and took ten minutes to assemble",
                "squeaks every time I lean back",
            ),
        ),
    ),
    Product(
        "Bluetooth speaker",
        (
            ("sound", "fills the whole garden with sound", "crackles at half volume"),
            (
                "connection",
                "keeps the connection across the whole flat",
                "cuts out whenever my phone is more than two metres away",
            ),
            ("durability", "shrugs off rain and sand", "refuses to charge after one beach trip"),
        ),
    ),
    Product(
        "backpack",
        (
            (
                "capacity",
                "fits a 16-inch laptop and a gym kit",
                "barely fits a laptop and a lunchbox",
            ),
            ("zipper", "has zippers that glide smoothly", "has a zipper that splits open"),
            ("strap comfort", "stays comfortable on long walks", "tears at the strap seams"),
        ),
    ),
    Product(
        "electric kettle",
        (
            (
                "boil time",
                "boils a full litre in under three minutes",
                "takes ages to boil a single cup",
            ),
            ("lid", "has a lid that opens with one finger", "leaks from under the lid"),
            ("safety", "switches off reliably", "leaves flakes of plastic in the water"),
        ),
    ),
)

FILLERS = {
    "pos_closer": (
        "Would buy again.",
        "Highly recommend.",
        "Five stars from me.",
        "Already ordered a second one.",
        "Worth every penny.",
        "Very pleased.",
    ),
    "neg_closer": (
        "Save your money.",
        "Returning it.",
        "One star is generous.",
        "Avoid.",
        "Asked for a refund.",
        "Really regret this one.",
    ),
    "occasion": (
        "last month",
        "as a gift for my dad",
        "after my old one broke",
        "on a whim during a sale",
        "for my new flat",
        "for my daughter's dorm room",
    ),
    "short_time": ("three days", "a week", "two weeks", "one afternoon", "ten days"),
    "arrival": ("on Tuesday", "yesterday", "a day early", "on time", "this morning"),
}

# (template, truth, literal) for each kind of review.
TEMPLATES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "positive": tuple(
        (t, "positive", "positive")
        for t in (
            "Really happy with this {product}. It {good}. {pos_closer}",
            "The {aspect} is excellent: it {good}. {pos_closer}",
            "Bought this {product} {occasion} and it {good}. {pos_closer}",
            "Honestly the best {product} I've owned. It {good}, and it {good2}.",
            "Exceeded my expectations. It {good}, and the price was fair.",
            "Third {product} I've tried and finally one that {good}. {pos_closer}",
            "Great value. It {good}. Delivery was quick too.",
            "My partner stole it within a week, which says it all. It {good}.",
        )
    ),
    "negative": tuple(
        (t, "negative", "negative")
        for t in (
            "This {product} {bad}. {neg_closer}",
            "Very disappointed. The {aspect} is poor: it {bad}.",
            "Do not buy. Mine {bad} and support never replied.",
            "Returned it after {short_time}: it {bad}.",
            "Worst {product} I've owned. It {bad}, and it {bad2}.",
            "Second one I've had that {bad}. Giving up on this brand.",
            "Bought it {occasion}. Big mistake: it {bad}. {neg_closer}",
        )
    ),
    "neutral": tuple(
        (t, "neutral", "neutral")
        for t in (
            "Arrived {arrival}. Haven't had a chance to use the {product} much yet.",
            "It's a {product}. The {aspect} is about what you'd expect at this price.",
            "Does what the listing says. Nothing more, nothing less.",
            "Bought it to replace the same model. Same as the old one.",
            "Colour is a bit darker than in the photos, otherwise as described.",
            "Using it mostly for work. Too early to say much about the {aspect}.",
            "Came in plain cardboard packaging with a one-page manual.",
            "Average {product}. The {aspect} is fine, the rest is fine.",
        )
    ),
    "mixed": tuple(
        (t, "mixed", "mixed")
        for t in (
            "It {good}, but it {bad2}. Mixed feelings.",
            "Great {aspect}, terrible {aspect2}: it {bad2}. Keeping it, reluctantly.",
            "It {good}, which I love. Sadly it also {bad2}.",
            "Four stars for the {aspect}, minus two because it {bad2}.",
            "Half brilliant, half frustrating. It {good}, yet it {bad2}.",
            "The {aspect} is superb; the {aspect2}, not so much: it {bad2}.",
        )
    ),
    "sarcasm": tuple(
        (t, "negative", "positive")
        for t in (
            "Oh great, another {product} that {bad}. Love it.",
            "Wow, it {bad}. Exactly what I paid for. 10/10.",
            "Fantastic. Truly built to last: it {bad}.",
            "Just what I always wanted: {a_product} that {bad}.",
            "Five stars for teaching me patience. The {product} {bad}.",
            "Best purchase of the year, if you enjoy {a_product} that {bad}.",
            "Thrilled. Absolutely thrilled. It {bad}. 🙃",
            "Love how it {bad}. Really keeps life exciting.",
            "Perfect timing: it {bad}, starting the day after the return window closed.",
            "Shipping took three weeks and then it {bad}. Amazing experience, truly.",
            "What a bargain. Paid full price for {a_product} that {bad}. 👏",
        )
    )
    + tuple(
        (t, "positive", "negative")
        for t in (
            "Terrible news: it {good}, so now I have nothing to complain about.",
            "Ugh. It {good}. Now I have to find something else to be grumpy about.",
            "Worst thing about this {product}? I can't stop recommending it to everyone.",
        )
    ),
    "negation": (
        ("The {aspect} is not bad at all, honestly.", "positive", "negative"),
        ("Never had a single problem with this {product}.", "positive", "negative"),
        ("Not the worst {product} I've owned, not the best either.", "neutral", "negative"),
        ("I wouldn't say the {aspect} is great. It {bad}.", "negative", "positive"),
        ("Can't complain. It {good}.", "positive", "negative"),
        ("Not impressed. It {bad}.", "negative", "positive"),
        ("No complaints so far, the {aspect} is solid.", "positive", "negative"),
        ("Didn't expect much for the price, but it's not bad.", "positive", "negative"),
        ("Not unhappy with it, but not thrilled either.", "neutral", "negative"),
        ("I wouldn't call it reliable: it {bad}.", "negative", "positive"),
        ("Nothing to dislike about the {aspect}. It {good}.", "positive", "negative"),
        ("Not worth the money. The {aspect} is nothing special.", "negative", "positive"),
        ("Can't say I'd recommend it. It {bad}.", "negative", "positive"),
        ("Never going back to my old {product}. This one {good}.", "positive", "negative"),
    ),
}

CODE_MIXED: dict[str, dict[str, tuple[str, ...]]] = {
    "es-en": {
        "positive": (
            "Me encanta este {product}, it {good}. Súper recomendado.",
            "Muy buena calidad, totally worth it.",
            "Llegó rapidísimo y funciona perfecto. So happy with it!",
            "El {aspect} es increíble, best purchase this year.",
        ),
        "negative": (
            "Qué decepción. The {product} {bad}.",
            "No lo recomiendo para nada, it {bad}.",
            "Pésima calidad, complete waste of money.",
            "Se rompió en una semana. Never again.",
        ),
        "neutral": (
            "Llegó ayer, todavía no lo he probado. Will update.",
            "Es un {product} normal, nothing special.",
            "Lo compré para mi mamá, she hasn't opened it yet.",
        ),
        "mixed": (
            "El {aspect} es buenísimo, pero it {bad2}.",
            "Funciona bien, pero el envío tardó un mes. Kind of annoying.",
            "Bonito diseño, but honestly it {bad}.",
        ),
    },
    "hi-en": {
        "positive": (
            "Product ekdum mast hai, {aspect} bhi solid hai. Paisa vasool!",
            "Bahut badiya {product}, totally worth it yaar.",
            "Mummy ko gift kiya, she loves it. Quality zabardast hai.",
        ),
        "negative": (
            "Bilkul bakwaas {product}, it {bad}. Paisa barbaad.",
            "Ekdum bekaar, do din mein kharab ho gaya. Don't buy.",
            "Quality bahut cheap hai, returning it.",
        ),
        "neutral": (
            "Kal deliver hua, abhi tak use nahi kiya.",
            "Theek hai, jaisa photo mein tha waisa hi hai.",
            "Normal {product} hai, kuch special nahi.",
        ),
        "mixed": (
            "Product accha hai but delivery bahut late thi.",
            "{Aspect} zabardast hai, lekin it {bad2}.",
            "Price ke hisaab se theek hai, but it {bad}.",
        ),
    },
}

EMOJI = {
    "positive": ("🔥🔥🔥", "😍", "👍👍", "💯🙌", "😊✨", "❤️❤️❤️", "🙌🔥", "⭐⭐⭐⭐⭐"),
    "negative": ("😡👎", "🤮", "👎👎👎", "💀💸", "😤😤", "🗑️", "😠", "🤬🤬"),
    "neutral": ("🤷", "😐", "📦", "🆗"),
    "mixed": ("😍👎", "👍👎", "🔥😕", "😊💸"),
}

# Hidden label mix per kind of item (the order of LABEL_KEYS).
TRUTH_WEIGHTS = {
    None: (38, 30, 16, 16),
    "mixed_language": (35, 30, 15, 20),
    "emoji_only": (40, 35, 15, 10),
}


@dataclass(frozen=True)
class ReviewText:
    """One generated review with its hidden ground truth and surface sentiment."""

    text: str
    tag: str | None
    truth: str
    literal: str
    product: str
    language: str


def _fill(template: str, rng: random.Random, product: Product) -> str:
    first, second = rng.sample(product.facets, 2)
    article = "an" if product.name[0] in "aeiou" else "a"
    values = {
        "product": product.name,
        "a_product": f"{article} {product.name}",
        "aspect": first[0],
        "Aspect": first[0][:1].upper() + first[0][1:],
        "good": first[1],
        "bad": first[2],
        "aspect2": second[0],
        "good2": second[1],
        "bad2": second[2],
    }
    values.update({key: rng.choice(options) for key, options in FILLERS.items()})
    return template.format(**values)


def make_review(rng: random.Random, tag: str | None) -> ReviewText:
    """Generate one review of the given edge-case kind (None for an ordinary review)."""
    product = rng.choice(PRODUCTS)
    if tag in ("sarcasm", "negation"):
        pool = TEMPLATES[tag]
        if tag == "sarcasm":  # roughly one in eight is praise dressed up as a complaint
            pool = tuple(t for t in pool if (t[1] == "positive") == (rng.random() < 0.12))
        template, truth, literal = rng.choice(pool)
        return ReviewText(_fill(template, rng, product), tag, truth, literal, product.name, "en")
    truth = rng.choices(LABEL_KEYS, weights=TRUTH_WEIGHTS[tag])[0]
    if tag == "emoji_only":
        text = rng.choice(EMOJI[truth])
        if rng.random() < 0.3:
            text += rng.choice(EMOJI[truth])
        return ReviewText(text, tag, truth, truth, product.name, "zxx")
    if tag == "mixed_language":
        language = rng.choice(sorted(CODE_MIXED))
        text = _fill(rng.choice(CODE_MIXED[language][truth]), rng, product)
        return ReviewText(text, tag, truth, truth, product.name, language)
    text = _fill(rng.choice(TEMPLATES[truth])[0], rng, product)
    return ReviewText(text, None, truth, truth, product.name, "en")
