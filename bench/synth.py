"""Synthetic Hugging Face Daily Papers: realistic items, deterministic for a seed, fast.

Each paper is drawn from one ML topic (sometimes two): a title from title patterns, an abstract
of six to nine sentences (context, problem, proposal, method, results, release), keywords and a
one-line AI summary (newer payloads only, as on the real API), and a list of authors. Method
names are made up from syllables ("FlashRoute", "OmniSplat-2"), which gives the vocabulary the
long tail of rare words real abstracts have. Items have the exact shape of ``/api/daily_papers``
(``paper.title`` and ``paper.summary`` with hard line breaks), grouped by featured day.

    items = generate(100_000, seed=7)          # list of API items, newest day last
    days = by_day(items)                        # featured date -> that day's list
    topics = search_topics(200, seed=7)         # what people type after /papers

About 100k papers in a few seconds.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

PAPERS_PER_DAY = 50
_T = TypeVar("_T")
_THUMBNAILS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers"
# Payloads before this day carry no ai_summary / ai_keywords / githubRepo (as on the real API).
AI_FIELDS_SINCE = date(2025, 6, 1)


@dataclass(frozen=True)
class Topic:
    name: str  # how people name it
    things: tuple[str, ...]  # plural noun phrases: what papers are about
    tasks: tuple[str, ...]
    techniques: tuple[str, ...]
    datasets: tuple[str, ...]
    stems: tuple[str, ...]  # pieces of made-up method names
    acronym: str = ""
    asks: tuple[str, ...] = ()  # paraphrases people type


TOPICS: tuple[Topic, ...] = (
    Topic(
        "diffusion models",
        ("diffusion models", "latent diffusion models", "score-based generative models"),
        ("text-to-image generation", "image editing", "inpainting", "super-resolution"),
        ("classifier-free guidance", "consistency distillation", "flow matching", "DDIM sampling"),
        ("COCO", "ImageNet 256", "LAION-Aesthetics", "DrawBench"),
        ("Diff", "Denoise", "Flow", "Dream"),
        "LDM",
        ("fewer sampling steps for image generators", "editing photos with text prompts"),
    ),
    Topic(
        "mixture of experts",
        ("mixture-of-experts models", "sparse expert models", "MoE language models"),
        ("expert routing", "load balancing", "efficient pretraining", "expert parallelism"),
        ("top-k gating", "auxiliary-free balancing", "expert pruning", "token dropping"),
        ("The Pile", "C4", "SlimPajama", "MMLU"),
        ("Route", "Expert", "Gate", "Switch"),
        "MoE",
        ("routing tokens to different experts", "sparse models that activate few parameters"),
    ),
    Topic(
        "gaussian splatting",
        ("3D Gaussian splatting", "Gaussian splats", "neural radiance fields"),
        ("novel view synthesis", "scene reconstruction", "dynamic scene rendering", "SLAM"),
        ("densification", "anisotropic Gaussians", "differentiable rasterization", "pruning"),
        ("Mip-NeRF 360", "Tanks and Temples", "ScanNet", "DTU"),
        ("Splat", "Gauss", "Radiance", "Scene"),
        "3DGS",
        ("reconstruct a 3D scene from a few photos", "real-time rendering of captured scenes"),
    ),
    Topic(
        "retrieval augmented generation",
        ("retrieval-augmented generation", "RAG pipelines", "retrieval-augmented language models"),
        ("open-domain question answering", "multi-hop reasoning", "fact verification"),
        ("dense retrieval", "reranking", "query rewriting", "adaptive retrieval"),
        ("Natural Questions", "HotpotQA", "TriviaQA", "KILT"),
        ("Retro", "Seek", "Recall", "Search"),
        "RAG",
        ("language model decides on its own when to search documents",),
    ),
    Topic(
        "vision transformers",
        ("vision transformers", "ViT backbones", "hierarchical vision transformers"),
        ("image classification", "semantic segmentation", "object detection", "dense prediction"),
        ("patch merging", "token pruning", "window attention", "masked image modeling"),
        ("ImageNet-1k", "ADE20K", "COCO detection", "Cityscapes"),
        ("Vi", "Patch", "Swin", "Lens"),
        "ViT",
        ("transformers for images", "faster image backbones"),
    ),
    Topic(
        "graph neural networks",
        ("graph neural networks", "message passing networks", "graph transformers"),
        ("node classification", "link prediction", "molecular property prediction"),
        (
            "over-smoothing mitigation",
            "positional encodings",
            "graph rewiring",
            "subgraph sampling",
        ),
        ("OGB", "ZINC", "Cora", "QM9"),
        ("Graph", "Node", "Mesh", "Hop"),
        "GNN",
        ("learning on graphs and molecules",),
    ),
    Topic(
        "speech recognition",
        ("speech recognition systems", "end-to-end ASR models", "speech foundation models"),
        ("automatic speech recognition", "code-switching transcription", "speech translation"),
        ("CTC decoding", "self-supervised pretraining", "streaming attention", "data augmentation"),
        ("LibriSpeech", "Common Voice", "FLEURS", "GigaSpeech"),
        ("Whisp", "Voice", "Sonic", "Echo"),
        "ASR",
        ("transcribing speech that mixes several languages", "turning audio into text"),
    ),
    Topic(
        "state space models",
        ("state space models", "selective state spaces", "linear recurrent models"),
        ("long-range sequence modeling", "language modeling", "efficient inference"),
        ("selective scan", "hardware-aware parallel scan", "gated linear recurrence"),
        ("Long Range Arena", "PG-19", "WikiText-103", "RULER"),
        ("Mamba", "Scan", "Recur", "Linear"),
        "SSM",
        ("linear-time alternative to attention",),
    ),
    Topic(
        "reinforcement learning from human feedback",
        ("reward models", "preference optimization methods", "RLHF pipelines"),
        ("alignment of language models", "instruction following", "harmlessness"),
        ("direct preference optimization", "PPO", "reward modeling", "rejection sampling"),
        ("Anthropic HH", "UltraFeedback", "AlpacaEval", "MT-Bench"),
        ("Align", "Prefer", "Reward", "Judge"),
        "RLHF",
        ("teaching chatbots what people prefer",),
    ),
    Topic(
        "reasoning language models",
        ("reasoning models", "large language models", "chain-of-thought reasoners"),
        ("mathematical reasoning", "code generation", "theorem proving", "planning"),
        (
            "reinforcement learning with verifiable rewards",
            "process reward models",
            "self-consistency",
        ),
        ("GSM8K", "MATH-500", "AIME 2024", "LiveCodeBench"),
        ("Reason", "Think", "Deep", "Step"),
        "LLM",
        ("teaching LLMs to reason better with reinforcement learning", "math word problems"),
    ),
    Topic(
        "quantization",
        ("quantized language models", "low-bit neural networks", "post-training quantization"),
        ("on-device inference", "memory-efficient serving", "edge deployment"),
        ("4-bit weight quantization", "outlier smoothing", "KV cache compression", "rotation"),
        ("WikiText-2", "LAMBADA", "MMLU", "HellaSwag"),
        ("Quant", "Bit", "Tiny", "Lite"),
        "PTQ",
        ("making language models cheaper to run on phones", "shrinking models to fewer bits"),
    ),
    Topic(
        "video generation",
        ("video diffusion models", "text-to-video models", "video world models"),
        ("long video generation", "image-to-video animation", "camera control"),
        ("temporal attention", "causal video VAE", "autoregressive rollout", "motion guidance"),
        ("UCF-101", "VBench", "WebVid-10M", "Kinetics-600"),
        ("Vid", "Motion", "Frame", "Cine"),
        "T2V",
        ("generating long videos that stay consistent",),
    ),
    Topic(
        "embodied agents",
        ("embodied agents", "vision-language-action models", "robot foundation models"),
        ("robotic manipulation", "navigation", "instruction following", "sim-to-real transfer"),
        ("imitation learning", "action chunking", "world models", "diffusion policies"),
        ("RLBench", "CALVIN", "Open X-Embodiment", "LIBERO"),
        ("Robo", "Act", "Grasp", "Nav"),
        "VLA",
        ("robots that follow natural language instructions",),
    ),
    Topic(
        "continual learning",
        ("continual learners", "lifelong learning systems", "incremental learners"),
        ("class-incremental learning", "task-incremental learning", "domain adaptation"),
        ("experience replay", "parameter isolation", "regularization", "prompt pools"),
        ("Split CIFAR-100", "CORe50", "ImageNet-R", "TinyImageNet"),
        ("Life", "Keep", "Remem", "Stream"),
        "CL",
        ("keep learning new tasks without forgetting old ones",),
    ),
    Topic(
        "code generation",
        ("code language models", "coding agents", "program synthesis models"),
        ("repository-level code completion", "bug fixing", "test generation"),
        ("execution feedback", "fill-in-the-middle training", "tool use", "self-debugging"),
        ("HumanEval", "SWE-bench", "MBPP", "RepoBench"),
        ("Code", "Repo", "Patch", "Dev"),
        "",
        ("AI agent that fixes bugs in github repositories",),
    ),
    Topic(
        "jailbreak attacks",
        ("jailbreak attacks", "adversarial prompts", "red-teaming methods"),
        ("LLM safety evaluation", "refusal robustness", "prompt injection"),
        ("gradient-based suffix search", "role-play prompting", "safety fine-tuning", "guardrails"),
        ("AdvBench", "HarmBench", "JailbreakBench", "StrongREJECT"),
        ("Break", "Guard", "Shield", "Red"),
        "",
        ("attacks that make chatbots ignore their safety training",),
    ),
    Topic(
        "time series forecasting",
        ("time series foundation models", "forecasting transformers", "temporal models"),
        ("long-horizon forecasting", "anomaly detection", "probabilistic forecasting"),
        ("patching", "channel independence", "decomposition", "zero-shot transfer"),
        ("ETTh1", "Electricity", "Traffic", "M4"),
        ("Chrono", "Time", "Tempo", "Cast"),
        "",
        ("predicting future sales or energy demand",),
    ),
    Topic(
        "protein design",
        ("protein language models", "protein diffusion models", "structure predictors"),
        ("protein structure generation", "binder design", "molecule generation"),
        ("equivariant networks", "inverse folding", "flow matching on SE(3)", "docking"),
        ("CATH", "PDB", "ProteinGym", "PoseBusters"),
        ("Fold", "Prot", "Bind", "Mol"),
        "",
        ("generating new molecules and proteins with AI",),
    ),
    Topic(
        "federated learning",
        ("federated learning systems", "federated optimizers", "privacy-preserving learners"),
        ("cross-device training", "personalization", "secure aggregation"),
        ("differential privacy", "client sampling", "model compression", "heterogeneity handling"),
        ("FEMNIST", "Shakespeare", "CIFAR-10 non-IID", "StackOverflow"),
        ("Fed", "Priv", "Client", "Silo"),
        "FL",
        ("training a shared model without collecting users' private data",),
    ),
    Topic(
        "vision language models",
        ("vision-language models", "multimodal large language models", "VLMs"),
        ("visual question answering", "document understanding", "image captioning"),
        ("visual instruction tuning", "token compression", "high-resolution encoding"),
        ("MMMU", "DocVQA", "TextVQA", "MMBench"),
        ("Vision", "Omni", "Pixel", "Look"),
        "VLM",
        ("models that read charts and documents",),
    ),
    Topic(
        "long context",
        ("long-context language models", "context extension methods", "efficient attention"),
        ("long-document understanding", "needle-in-a-haystack retrieval", "summarization"),
        ("position interpolation", "sparse attention", "KV cache eviction", "ring attention"),
        ("LongBench", "RULER", "InfiniteBench", "ZeroSCROLLS"),
        ("Long", "Ring", "Span", "Context"),
        "",
        ("handling very long documents in language models",),
    ),
    Topic(
        "tokenization",
        ("tokenizers", "subword vocabularies", "byte-level models"),
        ("multilingual language modeling", "compression", "vocabulary adaptation"),
        ("byte-pair encoding", "unigram tokenization", "token-free modeling", "merging"),
        ("FLORES-200", "mC4", "WMT", "CulturaX"),
        ("Tok", "Byte", "Merge", "Piece"),
        "BPE",
        ("how text gets split into subword units",),
    ),
    Topic(
        "web agents",
        ("web agents", "LLM agents", "GUI agents"),
        ("web navigation", "computer use", "multi-step tool use"),
        ("trajectory synthesis", "self-reflection", "tree search", "memory modules"),
        ("WebArena", "Mind2Web", "OSWorld", "GAIA"),
        ("Web", "Agent", "Click", "Surf"),
        "",
        ("evaluating web agents on realistic tasks",),
    ),
    Topic(
        "neural architecture search",
        ("architecture search methods", "hardware-aware networks", "efficient networks"),
        ("microcontroller deployment", "latency-constrained design", "model compression"),
        ("weight sharing", "evolutionary search", "latency predictors", "supernet training"),
        ("NAS-Bench-201", "ImageNet", "Visual Wake Words", "CIFAR-10"),
        ("Search", "Evo", "Arch", "Tiny"),
        "NAS",
        ("automatically designing small networks for chips",),
    ),
)

_PREFIXES = (
    "Flash", "Omni", "Uni", "Meta", "Hyper", "Sparse", "Fast", "Open", "Deep", "Auto", "Pro",
    "Neo", "Poly", "Mega", "Micro", "Nano", "Any", "Self", "Zero", "Multi", "Super", "Quant",
    "Light", "Swift", "Cosmo", "Aero", "Astra", "Nova", "Orion", "Vega",
)  # fmt: skip
_SUFFIXES = ("", "", "", "-2", "-R1", "Net", "Former", "GPT", "Bench", "X", "Zero", "-V", "Pro")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ti", "zen", "vo", "qu", "ne", "sa", "ri", "do", "xa")

_ADJECTIVES = (
    "Efficient", "Scalable", "Robust", "Unified", "Adaptive", "Training-Free", "Simple",
    "Lightweight", "Generalizable", "Faithful", "Controllable", "Data-Efficient",
)  # fmt: skip
_STUDY = ("A Survey", "A Benchmark", "An Empirical Study", "A Unified Framework", "A Case Study")
_CHALLENGES = (
    "their cost grows quickly with scale",
    "they remain brittle under distribution shift",
    "evaluation practices vary widely between papers",
    "they require large amounts of labelled data",
    "inference remains slow and memory hungry",
    "their failure modes are poorly understood",
)
_LIMITATIONS = (
    "rely on hand-crafted heuristics",
    "assume access to clean, curated data",
    "scale poorly beyond a few billion parameters",
    "ignore the interaction between components",
    "trade quality for speed in ways that are hard to control",
)
_ASPECTS = ("their practical use", "reproducibility", "deployment on commodity hardware",
            "generalization to new domains", "their applicability at scale")  # fmt: skip
_FRAMEWORKS = ("framework", "method", "training recipe", "architecture", "approach", "pipeline")
_VERBS = ("combines", "builds on", "revisits", "generalizes", "replaces", "learns")
_MECHANISMS = (
    "decouples {a} from {b}",
    "introduces a {adj} objective for {a}",
    "uses {a} to guide {b}",
    "shares computation between {a} and {b}",
    "adds a lightweight module for {a}",
)
_IMPROVES = ("improves", "raises", "boosts")
_BENEFITS = (
    "training remains stable at scale",
    "the model needs no task-specific tuning",
    "errors do not compound over long horizons",
    "the same weights serve every setting",
    "memory grows only linearly with input length",
    "inference fits on a single consumer GPU",
)
_EFFICIENCY = (
    "using {x}x less compute",
    "running {x}x faster at inference",
    "with {x}x fewer parameters",
    "at no extra training cost",
    "while halving memory use",
)
_METRICS = ("accuracy", "the average score", "pass@1", "F1", "win rate", "PSNR", "FID")
_FINDINGS = (
    "the gains grow with model size",
    "{a} matters more than {b}",
    "the approach transfers to {task} without retraining",
    "simple baselines are stronger than previously reported",
    "most of the improvement comes from {a}",
)
_RELEASES = (
    "Code and models are publicly available.",
    "We release our code, data and checkpoints.",
    "All code is open-sourced.",
    "",
)
_ORGS = ("DeepMind", "Meta AI", "Tsinghua University", "Stanford University", "ETH Zurich",
         "Mila", "Alibaba", "Microsoft Research", "NVIDIA", "KAIST", "University of Oxford",
         "MIT", "Shanghai AI Lab", "Hugging Face", "CMU")  # fmt: skip
_FIRST = (
    "Wei", "Yuxin", "Jiahao", "Xin", "Hao", "Zhen", "Li", "Mei", "Chen", "Jun", "Ananya", "Rahul",
    "Priya", "Arjun", "Sanjay", "Divya", "Kenji", "Yuki", "Haruto", "Min-jun", "Seo-yeon",
    "Ji-woo", "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Léa", "Hugo", "Chloé",
    "Mateo", "Lucía", "Sofía", "Diego", "Valentina", "João", "Ana", "Pedro", "Olga", "Dmitri",
    "Ivan", "Elena", "Noah", "Emma", "Liam", "Olivia", "James", "Ava", "Ethan", "Mia", "Omar",
    "Fatima", "Youssef", "Amina", "Kwame", "Ama", "Chidi", "Ngozi", "Tariq", "Leila", "Mehmet",
    "Elif", "Nguyen", "Linh", "Arash", "Sara", "David", "Rachel", "Tomás", "Ingrid", "Björn",
    "Ludmila", "Karim", "Jakob", "Ashwin", "Nadia", "Pablo", "Giulia", "Marco", "Alessandro",
)  # fmt: skip
_LAST = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    "Sharma", "Patel", "Gupta", "Iyer", "Reddy", "Tanaka", "Suzuki", "Sato", "Kim", "Park",
    "Lee", "Choi", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Martin", "Bernard",
    "Dubois", "Moreau", "García", "Fernández", "López", "Martínez", "Silva", "Santos", "Costa",
    "Ivanov", "Smirnov", "Petrova", "Smith", "Johnson", "Brown", "Jones", "Miller", "Davis",
    "Wilson", "Taylor", "Hassan", "Ali", "Mensah", "Okafor", "Adeyemi", "Yilmaz", "Kaya",
    "Tran", "Pham", "Hosseini", "Cohen", "Levi", "Rossi", "Russo", "Bianchi", "Novák",
    "Haddou", "Reinholt", "Ramaswamy", "Andersson", "Nielsen", "Kowalski", "Nowak",
)  # fmt: skip


class _Random(random.Random):
    """`random.Random` with a cheaper ``choice`` (the generator makes millions of them)."""

    def choice(self, seq: Sequence[_T]) -> _T:  # type: ignore[override]
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))


def _stamp(moment: datetime) -> str:
    return moment.isoformat()[:19] + ".000Z"


def _method_name(rng: _Random, topic: Topic) -> str:
    r = rng.random()
    if r < 0.45:
        base = rng.choice(_PREFIXES) + rng.choice(topic.stems)
    elif r < 0.8:
        base = rng.choice(topic.stems) + "".join(rng.choices(_SYLLABLES, k=rng.randint(1, 2)))
        base = base[0].upper() + base[1:]
    else:
        base = rng.choice(_PREFIXES) + "".join(rng.choices(_SYLLABLES, k=2))
    return base + rng.choice(_SUFFIXES)


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _title_case(text: str) -> str:
    small = {"a", "an", "and", "for", "of", "on", "in", "the", "to", "via", "with", "from"}
    words = text.split(" ")
    return " ".join(
        w if (i and w in small) or not w[:1].islower() else w[0].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _title(rng: _Random, t: Topic, other: Topic, name: str) -> str:
    thing, task, tech = rng.choice(t.things), rng.choice(t.tasks), rng.choice(t.techniques)
    adj = rng.choice(_ADJECTIVES)
    k = rng.randrange(10)
    if k == 0:
        text = f"{name}: {adj} {thing} for {task}"
    elif k == 1:
        text = f"{adj} {task} via {tech}"
    elif k == 2:
        text = f"Scaling {thing} with {tech}"
    elif k == 3:
        text = f"{_cap(task)} with {thing}: {rng.choice(_STUDY)}"
    elif k == 4:
        text = f"Towards {adj.lower()} {task}"
    elif k == 5:
        text = f"When {thing} Meet {rng.choice(other.things)}"
    elif k == 6:
        text = f"{name}: {_cap(tech)} for {rng.choice(other.tasks)}"
    elif k == 7:
        text = f"Rethinking {tech} in {thing}"
    elif k == 8:
        text = f"{name}: Evaluating {thing} on {task}"
    else:
        text = f"{name}: {adj} {tech} Makes {thing} Better at {task}"
    if ":" not in text and rng.random() < 0.6:
        text = f"{name}: {text}"
    return _title_case(text)


_LINES = {width: re.compile(rf"(.{{1,{width}}})(?: |$)") for width in (70, 80)}


def _wrap(text: str, width: int = 80) -> str:
    # Hard line breaks, as arXiv abstracts have them.
    return "\n".join(_LINES[width].findall(text))


def _abstract(rng: _Random, t: Topic, other: Topic, name: str) -> str:
    thing, task, tech = rng.choice(t.things), rng.choice(t.tasks), rng.choice(t.techniques)
    tech2 = rng.choice(t.techniques + other.techniques)
    d = rng.sample(t.datasets, 3)
    sentences = [
        f"{_cap(thing)} have shown strong results on {task}, yet {rng.choice(_CHALLENGES)}.",
        f"Existing approaches {rng.choice(_LIMITATIONS)}, which limits {rng.choice(_ASPECTS)}.",
        f"We propose {name}, a {rng.choice(_ADJECTIVES).lower()} {rng.choice(_FRAMEWORKS)} that "
        f"{rng.choice(_VERBS)} {tech} for {rng.choice(t.tasks)}.",
        f"{name} "
        + rng.choice(_MECHANISMS).format(a=tech, b=tech2, adj=rng.choice(_ADJECTIVES).lower())
        + ".",
        f"Experiments on {d[0]}, {d[1]} and {d[2]} show that {name} "
        f"{rng.choice(_IMPROVES)} {rng.choice(_METRICS)} by {rng.randint(1, 150) / 10:.1f} "
        f"points over strong baselines, "
        + rng.choice(_EFFICIENCY).format(x=rng.randint(2, 9))
        + ".",
    ]
    sentences.insert(
        4,
        f"Unlike prior methods, which {rng.choice(_LIMITATIONS)}, {name} "
        + rng.choice(_MECHANISMS).format(a=tech2, b=tech, adj=rng.choice(_ADJECTIVES).lower())
        + f", so that {rng.choice(_BENEFITS)}.",
    )
    sentences.insert(
        5,
        f"We evaluate {name} on {rng.randint(3, 12)} benchmarks spanning {task}, "
        f"{rng.choice(t.tasks)} and {rng.choice(other.tasks)}, against "
        f"{rng.randint(4, 15)} baselines including {rng.choice(TOPICS).stems[0]}-style "
        f"{rng.choice(t.things)}.",
    )
    if rng.random() < 0.5:
        sentences.append(
            f"Ablations confirm that every component contributes, with {tech} accounting for "
            f"most of the gain on {d[0]}."
        )
    if rng.random() < 0.6:
        sentences.append(
            "We further find that "
            + rng.choice(_FINDINGS).format(a=tech, b=tech2, task=rng.choice(other.tasks))
            + "."
        )
    if rng.random() < 0.4:
        sentences.insert(
            1,
            f"This matters for {rng.choice(other.tasks)} as well, where "
            f"{rng.choice(other.things)} face the same problem.",
        )
    release = rng.choice(_RELEASES)
    if release:
        sentences.append(release)
    return " ".join(sentences)


def _hex_id(rng: _Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _authors(rng: _Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(min(2 + int(rng.expovariate(0.25)), 40)):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        out.append({"_id": _hex_id(rng), "name": name, "hidden": False})
    return out


def _item(
    rng: _Random, day: date, serial: int, about: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    t = rng.choice(TOPICS)
    other = rng.choice(TOPICS) if rng.random() < 0.3 else t
    if about is not None:
        about.append((t.name, other.name))
    name = _method_name(rng, t)
    title = _title(rng, t, other, name)
    summary = _abstract(rng, t, other, name)
    published = datetime.combine(day - timedelta(days=rng.randint(0, 4)), datetime.min.time())
    published = published.replace(tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400))
    featured = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
        seconds=rng.randrange(86_400)
    )
    upvotes = min(int(rng.paretovariate(1.1)) - 1 + rng.randint(0, 5), 900)
    paper: dict[str, Any] = {
        "id": f"{published:%y%m}.{serial:05d}",
        "authors": _authors(rng),
        "publishedAt": _stamp(published),
        "title": _wrap(title, 70),
        "summary": _wrap(summary),
        "upvotes": upvotes,
        "discussionId": _hex_id(rng),
    }
    if day >= AI_FIELDS_SINCE:
        keywords = list(
            dict.fromkeys(
                [
                    rng.choice(t.things),
                    rng.choice(t.tasks),
                    *rng.sample(t.techniques, 2),
                    rng.choice(other.techniques),
                    name,
                ]
            )
        )
        paper.update(
            submittedOnDailyAt=_stamp(featured),
            ai_summary=f"{name} {rng.choice(_VERBS)} {rng.choice(t.techniques)} for "
            f"{rng.choice(t.tasks)}, improving {rng.choice(_METRICS)} on {rng.choice(t.datasets)}.",
            ai_keywords=keywords,
        )
        if rng.random() < 0.4:
            slug = name.lower().replace(" ", "-")
            paper["githubRepo"] = f"https://github.com/example-lab/{slug}"
            paper["githubStars"] = int(rng.paretovariate(0.8))
        if rng.random() < 0.2:
            paper["projectPage"] = f"https://example-lab.github.io/{name.lower()}/"
    submitter = {"_id": _hex_id(rng), "name": "user", "fullname": "A User", "isPro": False}
    item: dict[str, Any] = {
        "paper": paper,
        "publishedAt": _stamp(featured),
        "title": title,
        "summary": summary,
        "numComments": rng.randint(0, 6),
        "submittedBy": submitter,
        "isAuthorParticipating": rng.random() < 0.3,
    }
    if rng.random() < 0.15:
        item["organization"] = {"name": "org", "fullname": rng.choice(_ORGS)}
    return item


def generate(
    n: int,
    *,
    seed: int = 7,
    last_day: date = date(2026, 11, 20),
    about: list[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """``n`` Daily Papers items, `PAPERS_PER_DAY` a featured day, ending on ``last_day`` (the
    oldest day first). The same ``n`` and ``seed`` give the same items. Given ``about``, each
    item's topic and second topic (the same one for most papers) are appended to it, by name."""
    rng = _Random(seed)
    days = -(-n // PAPERS_PER_DAY)
    first = last_day - timedelta(days=days - 1)
    items: list[dict[str, Any]] = []
    serials: dict[str, int] = {}
    for i in range(n):
        day = first + timedelta(days=i // PAPERS_PER_DAY)
        item = _item(rng, day, 0, about)
        month = item["paper"]["id"][:4]
        serials[month] = serials.get(month, 0) + 1
        item["paper"]["id"] = paper_id = f"{month}.{serials[month]:05d}"
        item["thumbnail"] = f"{_THUMBNAILS}/{paper_id}.png"
        items.append(item)
    return items


def featured_day(item: dict[str, Any]) -> date:
    return date.fromisoformat(item["publishedAt"][:10])


def by_day(items: list[dict[str, Any]]) -> Iterator[tuple[date, list[dict[str, Any]]]]:
    """``items`` as the API lists them: one list per featured day, oldest day first."""
    day: date | None = None
    batch: list[dict[str, Any]] = []
    for item in items:
        d = featured_day(item)
        if day is not None and d != day:
            yield day, batch
            batch = []
        day = d
        batch.append(item)
    if day is not None:
        yield day, batch


def _typo(rng: _Random, text: str) -> str:
    words = text.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 5:
        return text
    j = rng.randrange(1, len(w) - 2)
    kind = rng.randrange(3)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # swapped letters
    elif kind == 1:
        w = w[:j] + w[j + 1 :]  # a dropped letter
    else:
        w = w[:j] + w[j] + w[j:]  # a doubled letter
    words[i] = w
    return " ".join(words)


def search_topics(n: int = 200, *, seed: int = 7) -> list[str]:
    """``n`` things people type after ``/papers``: topic names, acronyms, keywords, tasks,
    paraphrases, typos, requests with filler words, and topics combined."""
    return [text for text, _ in topics_asked(n, seed=seed)]


def topics_asked(n: int = 200, *, seed: int = 7) -> list[tuple[str, frozenset[str]]]:
    """`search_topics` with the names of the topics each one asks about (two for a combination
    such as "diffusion models for image editing"): what makes a paper relevant to it."""
    rng = _Random(seed)
    forms: list[tuple[str, frozenset[str]]] = []
    for t in TOPICS:
        about = frozenset((t.name,))
        forms.append((t.name, about))
        if t.acronym:
            forms.append((t.acronym, about))
        forms.append((rng.choice(t.techniques), about))
        forms.append((rng.choice(t.tasks), about))
        forms.extend((ask, about) for ask in t.asks)
        forms.append((_typo(rng, t.name), about))
        forms.append((f"recent papers on {rng.choice(t.things)}", about))
        other = rng.choice(TOPICS)
        forms.append(
            (f"{rng.choice(t.things)} for {rng.choice(other.tasks)}", about | {other.name})
        )
        forms.append((f"{t.name} {rng.choice(t.datasets)}", about))
    rng.shuffle(forms)
    first: dict[str, frozenset[str]] = {}
    for text, about in forms:
        first.setdefault(text, about)
    out = list(first.items())
    while len(out) < n:  # more combinations when asked for many
        t = rng.choice(TOPICS)
        out.append((f"{rng.choice(t.techniques)} {rng.choice(t.tasks)}", frozenset((t.name,))))
    return out[:n]


def other_topics(topics: list[str], n: int, *, seed: int = 3) -> list[str]:
    """``n`` topics of the same kinds as `search_topics`, none of them in ``topics``."""
    taken = set(topics)
    pool = [t for t in search_topics(len(taken) + 4 * n, seed=seed) if t not in taken]
    return pool[:n]
