"""DIF Presentation Exchange v2, verifier side (step 3b of the flow).

1. ``registry.load_definitions`` reads ``definitions/*.json`` at start-up; ``definition.parse_definition``
   validates a definition (from a file or a backend) and compiles its JSONPaths and filters.
2. ``definition.materialize_definition`` replaces ``{{today-...}}`` filter templates with concrete dates;
   the result is sent to the wallet and kept to check the response.
3. ``submission.parse_submission`` reads the wallet's ``presentation_submission``.
4. ``evaluation.evaluate_submission`` resolves each map entry through the format handlers' ``Lookup`` and
   checks formats, fields and submission requirements; ``fields.disclosed_claims`` gives the minimised claims.
"""

from service.presentation_exchange.definition import (
    Constraints,
    Field,
    InputDescriptor,
    PresentationDefinition,
    materialize_definition,
    parse_definition,
)
from service.presentation_exchange.evaluation import (
    Decoded,
    DescriptorResult,
    Lookup,
    SubmissionResult,
    evaluate_submission,
)
from service.presentation_exchange.fields import FieldMatch, disclosed_claims
from service.presentation_exchange.formats import AllowedFormats
from service.presentation_exchange.registry import (
    DefinitionEntry,
    DefinitionRegistry,
    definition_digest,
    load_definitions,
)
from service.presentation_exchange.requirements import SubmissionRequirement
from service.presentation_exchange.submission import (
    DescriptorMapEntry,
    PresentationSubmission,
    parse_submission,
)

__all__ = [
    "AllowedFormats",
    "Constraints",
    "Decoded",
    "DefinitionEntry",
    "DefinitionRegistry",
    "DescriptorMapEntry",
    "DescriptorResult",
    "Field",
    "FieldMatch",
    "InputDescriptor",
    "Lookup",
    "PresentationDefinition",
    "PresentationSubmission",
    "SubmissionRequirement",
    "SubmissionResult",
    "definition_digest",
    "disclosed_claims",
    "evaluate_submission",
    "load_definitions",
    "materialize_definition",
    "parse_definition",
    "parse_submission",
]
