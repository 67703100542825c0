"""GS1 vocabularies the CBV 2.0 event hash expands bare values with, pure data.

Bare values of the EPCIS 2.0 JSON-LD context's enumerated properties (``"type": "Temperature"`` in a
sensor report, ``"exception": "ALARM_CONDITION"``, ``"component": "x"``, ``"type": "po"`` in a business
transaction) stand for full URIs of the CBV (``https://ref.gs1.org/cbv/…``) or of the GS1 Web Vocabulary
(``https://ref.gs1.org/voc/…``). Master data carries GS1 Web Vocabulary code lists the same way
(``"locationRoleType": "BACKROOM"`` is ``https://ref.gs1.org/voc/LocationRoleType-BACKROOM``).

Sources: the EPCIS 2.0.0 JSON-LD context (``https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld``)
and the GS1 Web Vocabulary context of 2025-09-26 (code-list properties whose codes all read
``gs1:<Class>-<code>``).
"""

from __future__ import annotations

from ledger.core.events import CBV_BIZ_STEPS, CBV_DISPOSITIONS

CBV = "https://ref.gs1.org/cbv/"
VOC = "https://ref.gs1.org/voc/"

BTT = frozenset("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt".split())
SDT = frozenset("location owning_party possessing_party".split())
ER = frozenset("did_not_occur incorrect_data".split())
COMPONENTS = frozenset(
    "altitude axial_distance azimuth easting elevation_angle height latitude longitude northing polar_angle "
    "spherical_radius x y z".split()
)
EXCEPTIONS = frozenset("ALARM_CONDITION ERROR_CONDITION".split())
MEASUREMENT_TYPES = frozenset(
    "AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Altitude AmountOfSubstance "
    "AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum AngularVelocity Area "
    "Capacitance Conductance Conductivity Count Density Dimensionless DoseEquivalent DoseEquivalentRate "
    "DynamicViscosity ElectricCharge ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy "
    "Exposure Force Frequency Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum "
    "Luminance LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential "
    "Mass MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy "
    "MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity Radioactivity RelativeHumidity "
    "Resistance Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension Temperature "
    "Time Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber".split()
)

VOCABULARIES: dict[str, tuple[str, frozenset[str]]] = {
    "bizStep": (CBV + "BizStep-", CBV_BIZ_STEPS),
    "disposition": (CBV + "Disp-", CBV_DISPOSITIONS),
    "set": (CBV + "Disp-", CBV_DISPOSITIONS),
    "unset": (CBV + "Disp-", CBV_DISPOSITIONS),
    "reason": (CBV + "ER-", ER),
    "component": (CBV + "Comp-", COMPONENTS),
    "exception": (VOC, EXCEPTIONS),
}
"""Enumerated properties wherever they appear; ``type`` depends on its parent (see ``TYPE_OF``)."""

TYPE_OF: dict[str, tuple[str, frozenset[str]]] = {
    "bizTransactionList": (CBV + "BTT-", BTT),
    "sourceList": (CBV + "SDT-", SDT),
    "destinationList": (CBV + "SDT-", SDT),
    "sensorReport": (VOC, MEASUREMENT_TYPES),
}

_CODE_LISTS = (
    "AnatomicalFormCode: anatomicalForm\n"
    "BusinessEntityType: businessEntity\n"
    "CertificationStatus: certificationStatus\n"
    "CheeseFirmnessCode: cheeseFirmness\n"
    "CompulsoryAdditionalLabelInformationTypeCode: compulsoryAdditionalLabelInformationType\n"
    "ConsumerLifestageCode: consumerLifestage\n"
    "ConsumerSalesConditionsCode: consumerSalesCondition\n"
    "ContactRoleType: contactRoleCode\n"
    "DietTypeCode: dietType\n"
    "DiscountTypeCode: discountType\n"
    "FoodBeverageRefrigerationClaimCode: foodBeverageRefrigerationClaim\n"
    "FoodBeverageTargetUseCode: foodBeverageTargetUse\n"
    "FootwearFasteningTypeCode: footwearFasteningType\n"
    "FreshOrSeawaterFarmedCode: freshOrSeawaterFarmed\n"
    "GLN_TypeCode: glnType\n"
    "GrowingMethodCode: growingMethod\n"
    "LevelOfContainmentCode: additiveLevelOfContainment allergenLevelOfContainmentCode geneticallyModifiedDeclaration\n"
    "LocationID_Type: locationID_Type\n"
    "LocationRoleType: locationRole locationRoleType\n"
    "MaturationMethodCode: maturationMethod\n"
    "MeasurementPrecisionCode: numberOfServingsPerPackageMeasurementPrecision nutrientMeasurementPrecision\n"
    "NonbinaryLogicCode: bonelessClaim irradiatedCode isCarbonated isDecaffeinated isFromConcentrate\n"
    "NonbinaryLogicCode: isHomogenised isInstant\n"
    "NonbinaryLogicCode: isMaternity isPatterned isPittedStoned isRindEdible isSeedless isShelledPeeled isSliced\n"
    "NonbinaryLogicCode: isThermal isVintage isWashedReadyToEat isWaterproof isWearableItemDisposable reheatingClaim\n"
    "NutrientBasisQuantityCode: nutrientBasisQuantityType\n"
    "NutritionalClaimTypeCode: nutritionalClaim\n"
    "OfferRedemptionTypeCode: offerRedemptionType\n"
    "OrganicClaimAgencyCode: organicClaimAgency\n"
    "OrganizationID_Type: organizationID_Type\n"
    "OrganizationRoleType: organizationRole\n"
    "PackagingFeatureCode: packagingFeature\n"
    "PackagingFunctionCode: packagingFunction\n"
    "PackagingMarkedDietAllergenCode: packagingMarkedDietAllergenType\n"
    "PackagingMarkedFreeFromCode: packagingMarkedFreeFrom\n"
    "PackagingMarkedLabelAccreditationCode: packagingMarkedLabelAccreditation\n"
    "PackagingMaterialTypeCode: packagingMaterialType\n"
    "PackagingRecyclingProcessTypeCode: packagingRecyclingProcessType\n"
    "PackagingRecyclingSchemeCode: packagingRecyclingScheme\n"
    "PackagingShapeCode: packagingShape\n"
    "PaymentMethod: acceptedPaymentMethod isOnlyWithPaymentCard\n"
    "PreparationTypeCode: manufacturerPreparationCode preparationCode\n"
    "PreservationTechniqueCode: preservationTechnique\n"
    "ProductYieldTypeCode: productYieldType\n"
    "ReferencedFileTypeCode: referencedFileType\n"
    "SeasonParameterCode: seasonParameter\n"
    "SecurityMarking: authenticitySecurityFeatureType\n"
    "SharpnessOfCheeseCode: sharpnessOfCheese\n"
    "SizeGroupCode: sizeGroup\n"
    "SizeSystemCode: sizeSystem\n"
    "SizeTypeCode: sizeType\n"
    "SourceAnimalCode: sourceAnimal\n"
    "SportingActivityTypeCode: sportingActivityType\n"
    "StatusType: locationStatus organizationStatus\n"
    "SweetnessLevelOfAlcoholicBeverageCode: sweetnessLevelOfAlcoholicBeverage\n"
    "TargetConsumerGenderCode: targetConsumerGender\n"
    "TradeChannelCode: eligibleTradeChannel\n"
    "UpperTypeCode: footwearUpperType\n"
)


def _code_lists() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _CODE_LISTS.splitlines():
        cls, _, props = line.partition(": ")
        out |= dict.fromkeys(props.split(), cls)
    return out


CODE_LISTS: dict[str, str] = _code_lists()
"""GS1 Web Vocabulary property → its code list class: ``locationRoleType`` → ``LocationRoleType``."""
