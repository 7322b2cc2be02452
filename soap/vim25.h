/*
 * gSOAP interface definition for the part of the vSphere Web Services API
 * (vim25, namespace urn:vim25) and the Storage Policy API (SPBM, urn:pbm)
 * that vmcrypt-agent uses.  `make stubs` runs soapcpp2 on this file; the
 * output in stubs/ is generated and never edited.
 *
 * Written by hand on purpose: the typed surface is small because of one
 * design rule, and that rule is what makes the client robust:
 *
 *   - Requests are fully typed, members in XSD sequence order (vCenter is
 *     strict about order).  A polymorphic member we send is a wrapper
 *     { int __type; void *<element>; } so gSOAP writes xsi:type for the
 *     derived type we put there (TraversalSpec, CryptoSpecEncrypt,
 *     VirtualMachineDefinedProfileSpec).
 *   - Every value vCenter sends typed only by xsi:type (property values,
 *     events, task info, faults, PBM profiles) is received as a DOM node
 *     (xsd__anyType).  An xsi:type we have never heard of can then never
 *     fail a response: it is just a tree that agent/xnode.c reads.
 *   - A device read from vCenter is sent back in deviceChange as the same DOM
 *     tree, so an edit round-trips every element vCenter sent, including the
 *     ones newer than this file.
 *
 * Field orders follow govmomi's vim25/types/types.go (XSD sequence order).
 * Optional members are pointers or sized arrays; required ones are plain.
 */

//gsoap vim  service name:          vim
//gsoap vim  service namespace:     urn:vim25
//gsoap vim  schema namespace:      urn:vim25
//gsoap vim  schema elementForm:    qualified
//gsoap vim  schema attributeForm:  unqualified
//gsoap vim  service style:         document
//gsoap vim  service encoding:      literal

//gsoap pbm  schema namespace:      urn:pbm
//gsoap pbm  schema elementForm:    qualified
//gsoap pbm  schema attributeForm:  unqualified
//gsoap pbm  service style:         document
//gsoap pbm  service encoding:      literal

//gsoap vsan schema namespace:      urn:vsan
//gsoap vsan schema elementForm:    qualified
//gsoap vsan schema attributeForm:  unqualified
//gsoap vsan service style:         document
//gsoap vsan service encoding:      literal

#import "dom.h"

typedef char *xsd__string;
typedef char *xsd__dateTime_;          /* kept as text, never parsed by gSOAP */
enum xsd__boolean { false_, true_ };

/* SPBM authenticates with the vim25 session token in a SOAP header. */
struct SOAP_ENV__Header {
	char *vcSessionCookie;
};

/* Fault details stay raw: the agent matches on the detail's xsi:type. */
struct SOAP_ENV__Detail {
	xsd__anyType __any;
};

/* ------------------------------------------------------------------ */
/* Shared data objects                                                 */
/* ------------------------------------------------------------------ */

struct vim__ManagedObjectReference {
	@char *type;
	char *__item;
};

struct vim__AboutInfo {
	char *name;
	char *fullName;
	char *vendor;
	char *version;
	char *patchLevel 0;
	char *build;
	char *localeVersion 0;
	char *localeBuild 0;
	char *osType;
	char *productLineId;
	char *apiType;
	char *apiVersion;
	char *instanceUuid 0;
	char *licenseProductName 0;
	char *licenseProductVersion 0;
};

/* Only the managers the agent uses; unknown elements are skipped. */
struct vim__ServiceContent {
	struct vim__ManagedObjectReference rootFolder;
	struct vim__ManagedObjectReference propertyCollector;
	struct vim__ManagedObjectReference *viewManager 0;
	struct vim__AboutInfo about;
	struct vim__ManagedObjectReference *setting 0;
	struct vim__ManagedObjectReference *userDirectory 0;
	struct vim__ManagedObjectReference *sessionManager 0;
	struct vim__ManagedObjectReference *authorizationManager 0;
	struct vim__ManagedObjectReference *serviceManager 0;
	struct vim__ManagedObjectReference *perfManager 0;
	struct vim__ManagedObjectReference *scheduledTaskManager 0;
	struct vim__ManagedObjectReference *alarmManager 0;
	struct vim__ManagedObjectReference *eventManager 0;
	struct vim__ManagedObjectReference *taskManager 0;
	struct vim__ManagedObjectReference *extensionManager 0;
	struct vim__ManagedObjectReference *customizationSpecManager 0;
	struct vim__ManagedObjectReference *guestCustomizationManager 0;
	struct vim__ManagedObjectReference *customFieldsManager 0;
	struct vim__ManagedObjectReference *accountManager 0;
	struct vim__ManagedObjectReference *diagnosticManager 0;
	struct vim__ManagedObjectReference *licenseManager 0;
	struct vim__ManagedObjectReference *searchIndex 0;
	struct vim__ManagedObjectReference *fileManager 0;
	struct vim__ManagedObjectReference *datastoreNamespaceManager 0;
	struct vim__ManagedObjectReference *virtualDiskManager 0;
	struct vim__ManagedObjectReference *virtualizationManager 0;
	struct vim__ManagedObjectReference *snmpSystem 0;
	struct vim__ManagedObjectReference *vmProvisioningChecker 0;
	struct vim__ManagedObjectReference *vmCompatibilityChecker 0;
	struct vim__ManagedObjectReference *ovfManager 0;
	struct vim__ManagedObjectReference *ipPoolManager 0;
	struct vim__ManagedObjectReference *dvSwitchManager 0;
	struct vim__ManagedObjectReference *hostProfileManager 0;
	struct vim__ManagedObjectReference *clusterProfileManager 0;
	struct vim__ManagedObjectReference *complianceManager 0;
	struct vim__ManagedObjectReference *localizationManager 0;
	struct vim__ManagedObjectReference *storageResourceManager 0;
	struct vim__ManagedObjectReference *guestOperationsManager 0;
	struct vim__ManagedObjectReference *overheadMemoryManager 0;
	struct vim__ManagedObjectReference *certificateManager 0;
	struct vim__ManagedObjectReference *ioFilterManager 0;
	struct vim__ManagedObjectReference *vStorageObjectManager 0;
	struct vim__ManagedObjectReference *hostSpecManager 0;
	struct vim__ManagedObjectReference *cryptoManager 0;
};

struct vim__UserSession {
	char *key;
	char *userName;
	char *fullName;
	xsd__dateTime_ loginTime;
	xsd__dateTime_ lastActiveTime;
	char *locale;
	char *messageLocale;
	enum xsd__boolean *extensionSession 0;
	char *ipAddress 0;
	char *userAgent 0;
	LONG64 *callCount 0;
};

/* LocalizedMethodFault: the fault itself is polymorphic, so DOM. */
struct vim__LocalizedMethodFault {
	xsd__anyType *fault;
	char *localizedMessage 0;
};

/* ------------------------------------------------------------------ */
/* PropertyCollector                                                   */
/* ------------------------------------------------------------------ */

struct vim__PropertySpec {
	char *type;
	enum xsd__boolean *all 0;
	int __sizepathSet;
	char **pathSet 0;
};

/* Polymorphic SelectionSpec slot: __type is SOAP_TYPE_vim__TraversalSpec
 * or SOAP_TYPE_vim__SelectionSpec. */
struct vim__SelectionSpecRef {
	int __type;
	void *selectSet;
};

struct vim__SelectionSpec {
	char *name 0;
};

struct vim__TraversalSpec {
	char *name 0;
	char *type;
	char *path;
	enum xsd__boolean *skip 0;
	int __sizeselectSet_;
	struct vim__SelectionSpecRef *__selectSet 0;
};

struct vim__ObjectSpec {
	struct vim__ManagedObjectReference obj;
	enum xsd__boolean *skip 0;
	int __sizeselectSet_;
	struct vim__SelectionSpecRef *__selectSet 0;
};

struct vim__PropertyFilterSpec {
	int __sizepropSet;
	struct vim__PropertySpec *propSet 1;
	int __sizeobjectSet;
	struct vim__ObjectSpec *objectSet 1;
	enum xsd__boolean *reportMissingObjectsInResults 0;
};

struct vim__RetrieveOptions {
	int *maxObjects 0;
};

struct vim__DynamicProperty {
	char *name;
	xsd__anyType *val;
};

struct vim__MissingProperty {
	char *path;
	struct vim__LocalizedMethodFault fault;
};

struct vim__ObjectContent {
	struct vim__ManagedObjectReference obj;
	int __sizepropSet;
	struct vim__DynamicProperty *propSet 0;
	int __sizemissingSet;
	struct vim__MissingProperty *missingSet 0;
};

struct vim__RetrieveResult {
	char *token 0;
	int __sizeobjects;
	struct vim__ObjectContent *objects 0;
};

struct vim__WaitOptions {
	int *maxWaitSeconds 0;
	int *maxObjectUpdates 0;
};

struct vim__PropertyChange {
	char *name;
	char *op;
	xsd__anyType *val 0;
};

struct vim__ObjectUpdate {
	char *kind;
	struct vim__ManagedObjectReference obj;
	int __sizechangeSet;
	struct vim__PropertyChange *changeSet 0;
	int __sizemissingSet;
	struct vim__MissingProperty *missingSet 0;
};

struct vim__MissingObject {
	struct vim__ManagedObjectReference obj;
	struct vim__LocalizedMethodFault fault;
};

struct vim__PropertyFilterUpdate {
	struct vim__ManagedObjectReference filter;
	int __sizeobjectSet;
	struct vim__ObjectUpdate *objectSet 0;
	int __sizemissingSet;
	struct vim__MissingObject *missingSet 0;
};

struct vim__UpdateSet {
	char *version;
	int __sizefilterSet;
	struct vim__PropertyFilterUpdate *filterSet 0;
	enum xsd__boolean *truncated 0;
};

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

struct vim__EventFilterSpecByEntity {
	struct vim__ManagedObjectReference entity;
	char *recursion;                /* self | children | all */
};

struct vim__EventFilterSpecByTime {
	xsd__dateTime_ beginTime 0;
	xsd__dateTime_ endTime 0;
};

struct vim__EventFilterSpec {
	struct vim__EventFilterSpecByEntity *entity 0;
	struct vim__EventFilterSpecByTime *time 0;
	enum xsd__boolean *disableFullMessage 0;
	int __sizeeventTypeId;
	char **eventTypeId 0;
	int *maxCount 0;
};

/* ------------------------------------------------------------------ */
/* VM reconfiguration                                                  */
/* ------------------------------------------------------------------ */

struct vim__KeyProviderId {
	char *id;
};

struct vim__CryptoKeyId {
	char *keyId;
	struct vim__KeyProviderId *providerId 0;
};

struct vim__CryptoSpecEncrypt {
	struct vim__CryptoKeyId cryptoKeyId;
};

struct vim__CryptoSpecShallowRecrypt {
	struct vim__CryptoKeyId newKeyId;
};

/* Polymorphic CryptoSpec slots (spec.crypto, backing.crypto). */
struct vim__CryptoSpecRef {
	int __type;
	void *crypto;
};

struct vim__VirtualMachineDefinedProfileSpec {
	char *profileId;
};

/* Polymorphic VirtualMachineProfileSpec slots. */
struct vim__VmProfileRef {
	int __type;
	void *vmProfile;
};

struct vim__DeviceProfileRef {
	int __type;
	void *profile;
};

struct vim__VirtualDeviceConfigSpecBackingSpec {
	struct vim__CryptoSpecRef *__crypto 0;
};

struct vim__VirtualDeviceConfigSpec {
	char *operation 0;              /* add | remove | edit */
	char *fileOperation 0;
	xsd__anyType *device;           /* the device as vCenter sent it */
	int __sizeprofile_;
	struct vim__DeviceProfileRef *__profile 0;
	struct vim__VirtualDeviceConfigSpecBackingSpec *backing 0;
};

/* Polymorphic VirtualDeviceConfigSpec slots (spec.deviceChange): sent
 * with xsi:type like every other polymorphic member. */
struct vim__DeviceChangeRef {
	int __type;
	void *deviceChange;
};

/* VirtualMachineFileInfo: where a new VM's files go ("[datastore]"). */
struct vim__VirtualMachineFileInfo {
	char *vmPathName 0;
};

/* OptionValue (extraConfig): a key and a value sent as xsd:string. */
struct vim__OptionValueValueRef {
	int __type;
	void *value;
};

struct vim__OptionValue {
	char *key;
	struct vim__OptionValueValueRef *__value 0;
};

/* Polymorphic OptionValue slots (spec.extraConfig). */
struct vim__ExtraConfigRef {
	int __type;
	void *extraConfig;
};

/* Members in XSD order; those of a new VM (CreateVM_Task: name, version,
 * guestId, files, numCPUs, memoryMB, extraConfig) are left out of a
 * reconfigure. */
struct vim__VirtualMachineConfigSpec {
	char *changeVersion 0;
	char *name 0;
	char *version 0;
	char *guestId 0;
	struct vim__VirtualMachineFileInfo *files 0;
	int *numCPUs 0;
	LONG64 *memoryMB 0;
	int __sizedeviceChange_;
	struct vim__DeviceChangeRef *__deviceChange 0;
	int __sizeextraConfig_;
	struct vim__ExtraConfigRef *__extraConfig 0;
	int __sizevmProfile_;
	struct vim__VmProfileRef *__vmProfile 0;
	struct vim__CryptoSpecRef *__crypto 0;
	char *migrateEncryption 0;      /* disabled | opportunistic | required */
	char *ftEncryptionMode 0;       /* API 7.0.2+ */
};

/* ------------------------------------------------------------------ */
/* CryptoManagerKmip                                                   */
/* ------------------------------------------------------------------ */

struct vim__KmipServerInfo {
	char *name;
	char *address;
	int port;
	char *proxyAddress 0;
	int *proxyPort 0;
	LONG64 *reconnect 0;
	char *protocol 0;
	LONG64 *nbio 0;
	LONG64 *timeout 0;
	char *userName 0;
};

struct vim__KmipClusterInfo {
	struct vim__KeyProviderId clusterId;
	int __sizeservers;
	struct vim__KmipServerInfo *servers 0;
	enum xsd__boolean useAsDefault;
	char *managementType 0;
	int __sizeuseAsEntityDefault;
	struct vim__ManagedObjectReference *useAsEntityDefault 0;
	/* API 9.0, sent to a 9.0.0.0 client only: keyInfo is polymorphic (DOM) */
	char *defaultKeyType 0;
	xsd__anyType *keyInfo 0;
};

/* KmipServerSpec.keySpec (API 9.0), sent in its xsi:type slot. */
struct vim__KmipServerSpecWrappingRotationIntervalKeySpec { int *rotationInterval 0; };
struct vim__KmipServerSpecKeySpecRef { int __type; void *keySpec; };

/* Register/UpdateKmipServer's argument, in WSDL order (the last two 9.0). */
struct vim__KmipServerSpec {
	struct vim__KeyProviderId clusterId;
	struct vim__KmipServerInfo info;
	char *password 0;
	char *defaultKeyType 0;
	struct vim__KmipServerSpecKeySpecRef *__keySpec 0;
};

struct vim__CryptoKeyResult {
	struct vim__CryptoKeyId keyId;
	enum xsd__boolean success;
	char *reason 0;
	xsd__anyType *fault 0;
};

struct vim__CustomFieldDef {
	int key;
	char *name;
	char *type;
	char *managedObjectType 0;
};

/* ------------------------------------------------------------------ */
/* SPBM data objects                                                   */
/* ------------------------------------------------------------------ */

struct pbm__PbmAboutInfo {
	char *name;
	char *version;
	char *instanceUuid;
};

struct pbm__PbmServiceInstanceContent {
	struct pbm__PbmAboutInfo aboutInfo;
	struct vim__ManagedObjectReference sessionManager;
	struct vim__ManagedObjectReference capabilityMetadataManager;
	struct vim__ManagedObjectReference profileManager;
	struct vim__ManagedObjectReference complianceManager;
	struct vim__ManagedObjectReference placementSolver;
	struct vim__ManagedObjectReference *replicationManager 0;
};

struct pbm__PbmProfileResourceType {
	char *resourceType;             /* STORAGE */
};

struct pbm__PbmProfileId {
	char *uniqueId;
};

struct pbm__PbmServerObjectRef {
	char *objectType;               /* virtualMachine | virtualDiskId | ... */
	char *key;
	char *serverUuid 0;
};

/* PbmCreate (policy ensure): the rule tree of VMware's default "VM
 * Encryption Policy" -- one sub-profile naming the VM Encryption data
 * service.  Polymorphic members are wrappers, as in vim25 above. */
struct pbm__PbmCapabilityMetadataUniqueId {
	char *namespace_;
	char *id;
};

/* value is xsd:anyType on the wire: __type SOAP_TYPE_xsd__string, value
 * the char * itself (gSOAP's convention for strings in a void * slot). */
struct pbm__PbmAnyValue {
	int __type;
	void *value;
};

struct pbm__PbmCapabilityPropertyInstance {
	char *id;
	char *operator_ 0;
	struct pbm__PbmAnyValue __value;
};

struct pbm__PbmCapabilityConstraintInstance {
	int __sizepropertyInstance;
	struct pbm__PbmCapabilityPropertyInstance *propertyInstance 1;
};

struct pbm__PbmCapabilityInstance {
	struct pbm__PbmCapabilityMetadataUniqueId id;
	int __sizeconstraint;
	struct pbm__PbmCapabilityConstraintInstance *constraint 1;
};

struct pbm__PbmCapabilitySubProfile {
	char *name;
	int __sizecapability;
	struct pbm__PbmCapabilityInstance *capability 1;
	enum xsd__boolean *forceProvision 0;
};

struct pbm__PbmCapabilitySubProfileConstraints {
	int __sizesubProfiles;
	struct pbm__PbmCapabilitySubProfile *subProfiles 1;
};

struct pbm__PbmConstraintsRef {
	int __type;
	void *constraints;
};

struct pbm__PbmCapabilityProfileCreateSpec {
	char *name;
	char *description 0;
	char *category 0;
	struct pbm__PbmProfileResourceType resourceType;
	struct pbm__PbmConstraintsRef __constraints;
};

struct pbm__PbmQueryProfileResult {
	struct pbm__PbmServerObjectRef object;
	int __sizeprofileId;
	struct pbm__PbmProfileId *profileId 0;
	xsd__anyType *fault 0;
};

/* ------------------------------------------------------------------ */
/* Responses (element <Method>Response, one returnval)                 */
/* ------------------------------------------------------------------ */

struct vim__RetrieveServiceContentResponse { struct vim__ServiceContent *returnval; };
struct vim__LoginResponse { struct vim__UserSession *returnval; };
struct vim__LogoutResponse { char *__dummy 0; };
struct vim__CurrentTimeResponse { xsd__dateTime_ returnval; };
struct vim__CreateContainerViewResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__CreatePropertyCollectorResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__CreateFilterResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__CreateCollectorForEventsResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__ReconfigVM_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__RetrieveKmipServersStatus_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__DestroyViewResponse { char *__dummy 0; };
struct vim__DestroyPropertyCollectorResponse { char *__dummy 0; };
struct vim__DestroyPropertyFilterResponse { char *__dummy 0; };
struct vim__DestroyCollectorResponse { char *__dummy 0; };
struct vim__CancelWaitForUpdatesResponse { char *__dummy 0; };
struct vim__CancelRetrievePropertiesExResponse { char *__dummy 0; };
struct vim__LogUserEventResponse { char *__dummy 0; };
struct vim__SetFieldResponse { char *__dummy 0; };
struct vim__RemoveCustomFieldDefResponse { char *__dummy 0; };
struct vim__SetCollectorPageSizeResponse { char *__dummy 0; };
struct vim__ResetCollectorResponse { char *__dummy 0; };
struct vim__RetrievePropertiesExResponse { struct vim__RetrieveResult *returnval 0; };
struct vim__ContinueRetrievePropertiesExResponse { struct vim__RetrieveResult *returnval; };
struct vim__WaitForUpdatesExResponse { struct vim__UpdateSet *returnval 0; };
struct vim__ReadNextEventsResponse { int __sizereturnval; xsd__anyType *returnval 0; };
struct vim__ListKmipServersResponse { int __sizereturnval; struct vim__KmipClusterInfo *returnval 0; };
struct vim__GetDefaultKmsClusterResponse { struct vim__KeyProviderId *returnval 0; };
struct vim__IsKmsClusterActiveResponse { enum xsd__boolean returnval; };
struct vim__RegisterKmipServerResponse { char *__dummy 0; };
struct vim__UpdateKmipServerResponse { char *__dummy 0; };
struct vim__MarkDefaultResponse { char *__dummy 0; };
struct vim__UploadKmipServerCertResponse { char *__dummy 0; };
struct vim__UploadClientCertResponse { char *__dummy 0; };
struct vim__GenerateSelfSignedClientCertResponse { char *returnval 0; };
struct vim__RetrieveSelfSignedClientCertResponse { char *returnval 0; };
struct vim__RetrieveClientCertResponse { char *returnval 0; };
struct vim__GenerateClientCsrResponse { char *returnval 0; };
struct vim__SetDefaultKmsClusterResponse { char *__dummy 0; };
struct vim__FindByInventoryPathResponse { struct vim__ManagedObjectReference *returnval 0; };
struct vim__RetrieveClientCsrResponse { char *returnval 0; };
struct vim__UpdateKmsSignedCsrClientCertResponse { char *__dummy 0; };
struct vim__GenerateKeyResponse { struct vim__CryptoKeyResult *returnval; };
struct vim__CreateVM_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__Destroy_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__PowerOnVM_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
struct vim__PowerOffVM_USCORETaskResponse { struct vim__ManagedObjectReference *returnval; };
/* CryptoManagerKmipCryptoKeyStatus[], read as DOM trees (9.0 added keyInfo). */
struct vim__QueryCryptoKeyStatusResponse { int __sizereturnval; xsd__anyType *returnval 0; };
struct vim__AddCustomFieldDefResponse { struct vim__CustomFieldDef *returnval; };
struct vim__HasPrivilegeOnEntityResponse { int __sizereturnval; enum xsd__boolean *returnval 0; };

struct pbm__PbmRetrieveServiceContentResponse { struct pbm__PbmServiceInstanceContent *returnval; };
struct pbm__PbmQueryProfileResponse { int __sizereturnval; struct pbm__PbmProfileId *returnval 0; };
struct pbm__PbmRetrieveContentResponse { int __sizereturnval; xsd__anyType *returnval 0; };
struct pbm__PbmQueryAssociatedProfileResponse { int __sizereturnval; struct pbm__PbmProfileId *returnval 0; };
struct pbm__PbmCreateResponse { struct pbm__PbmProfileId *returnval; };
struct pbm__PbmQueryAssociatedProfilesResponse { int __sizereturnval; struct pbm__PbmQueryProfileResult *returnval 0; };

/* ------------------------------------------------------------------ */
/* Operations.  The SOAPAction (urn:vim25/<version>) is passed at run  */
/* time by agent/vsoap.c so the negotiated version is what is sent.    */
/* ------------------------------------------------------------------ */

//gsoap vim service method-action: RetrieveServiceContent urn:vim25/6.5
int vim__RetrieveServiceContent(struct vim__ManagedObjectReference *_USCOREthis, struct vim__RetrieveServiceContentResponse *out);

//gsoap vim service method-action: Login urn:vim25/6.5
int vim__Login(struct vim__ManagedObjectReference *_USCOREthis, char *userName, char *password, char *locale 0, struct vim__LoginResponse *out);

//gsoap vim service method-action: Logout urn:vim25/6.5
int vim__Logout(struct vim__ManagedObjectReference *_USCOREthis, struct vim__LogoutResponse *out);

//gsoap vim service method-action: CurrentTime urn:vim25/6.5
int vim__CurrentTime(struct vim__ManagedObjectReference *_USCOREthis, struct vim__CurrentTimeResponse *out);

//gsoap vim service method-action: CreateContainerView urn:vim25/6.5
int vim__CreateContainerView(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *container, int __sizetype, char **type, enum xsd__boolean recursive, struct vim__CreateContainerViewResponse *out);

//gsoap vim service method-action: DestroyView urn:vim25/6.5
int vim__DestroyView(struct vim__ManagedObjectReference *_USCOREthis, struct vim__DestroyViewResponse *out);

//gsoap vim service method-action: CreatePropertyCollector urn:vim25/6.5
int vim__CreatePropertyCollector(struct vim__ManagedObjectReference *_USCOREthis, struct vim__CreatePropertyCollectorResponse *out);

//gsoap vim service method-action: DestroyPropertyCollector urn:vim25/6.5
int vim__DestroyPropertyCollector(struct vim__ManagedObjectReference *_USCOREthis, struct vim__DestroyPropertyCollectorResponse *out);

//gsoap vim service method-action: CreateFilter urn:vim25/6.5
int vim__CreateFilter(struct vim__ManagedObjectReference *_USCOREthis, struct vim__PropertyFilterSpec *spec, enum xsd__boolean partialUpdates, struct vim__CreateFilterResponse *out);

//gsoap vim service method-action: DestroyPropertyFilter urn:vim25/6.5
int vim__DestroyPropertyFilter(struct vim__ManagedObjectReference *_USCOREthis, struct vim__DestroyPropertyFilterResponse *out);

//gsoap vim service method-action: RetrievePropertiesEx urn:vim25/6.5
int vim__RetrievePropertiesEx(struct vim__ManagedObjectReference *_USCOREthis, int __sizespecSet, struct vim__PropertyFilterSpec *specSet, struct vim__RetrieveOptions *options, struct vim__RetrievePropertiesExResponse *out);

//gsoap vim service method-action: ContinueRetrievePropertiesEx urn:vim25/6.5
int vim__ContinueRetrievePropertiesEx(struct vim__ManagedObjectReference *_USCOREthis, char *token, struct vim__ContinueRetrievePropertiesExResponse *out);

//gsoap vim service method-action: CancelRetrievePropertiesEx urn:vim25/6.5
int vim__CancelRetrievePropertiesEx(struct vim__ManagedObjectReference *_USCOREthis, char *token, struct vim__CancelRetrievePropertiesExResponse *out);

//gsoap vim service method-action: WaitForUpdatesEx urn:vim25/6.5
int vim__WaitForUpdatesEx(struct vim__ManagedObjectReference *_USCOREthis, char *version 0, struct vim__WaitOptions *options 0, struct vim__WaitForUpdatesExResponse *out);

//gsoap vim service method-action: CancelWaitForUpdates urn:vim25/6.5
int vim__CancelWaitForUpdates(struct vim__ManagedObjectReference *_USCOREthis, struct vim__CancelWaitForUpdatesResponse *out);

//gsoap vim service method-action: CreateCollectorForEvents urn:vim25/6.5
int vim__CreateCollectorForEvents(struct vim__ManagedObjectReference *_USCOREthis, struct vim__EventFilterSpec *filter, struct vim__CreateCollectorForEventsResponse *out);

//gsoap vim service method-action: ReadNextEvents urn:vim25/6.5
int vim__ReadNextEvents(struct vim__ManagedObjectReference *_USCOREthis, int maxCount, struct vim__ReadNextEventsResponse *out);

//gsoap vim service method-action: SetCollectorPageSize urn:vim25/6.5
int vim__SetCollectorPageSize(struct vim__ManagedObjectReference *_USCOREthis, int maxCount, struct vim__SetCollectorPageSizeResponse *out);

//gsoap vim service method-action: ResetCollector urn:vim25/6.5
int vim__ResetCollector(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ResetCollectorResponse *out);

//gsoap vim service method-action: DestroyCollector urn:vim25/6.5
int vim__DestroyCollector(struct vim__ManagedObjectReference *_USCOREthis, struct vim__DestroyCollectorResponse *out);

//gsoap vim service method-action: LogUserEvent urn:vim25/6.5
int vim__LogUserEvent(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *entity, char *msg, struct vim__LogUserEventResponse *out);

//gsoap vim service method-action: ReconfigVM_Task urn:vim25/6.5
int vim__ReconfigVM_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, struct vim__VirtualMachineConfigSpec *spec, struct vim__ReconfigVM_USCORETaskResponse *out);

//gsoap vim service method-action: ListKmipServers urn:vim25/6.5
int vim__ListKmipServers(struct vim__ManagedObjectReference *_USCOREthis, int *limit 0, struct vim__ListKmipServersResponse *out);

//gsoap vim service method-action: GetDefaultKmsCluster urn:vim25/6.5
int vim__GetDefaultKmsCluster(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *entity 0, enum xsd__boolean *defaultsToParent 0, struct vim__GetDefaultKmsClusterResponse *out);

//gsoap vim service method-action: IsKmsClusterActive urn:vim25/6.5
int vim__IsKmsClusterActive(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster 0, struct vim__IsKmsClusterActiveResponse *out);

//gsoap vim service method-action: RetrieveKmipServersStatus_Task urn:vim25/6.5
int vim__RetrieveKmipServersStatus_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, int __sizeclusters, struct vim__KmipClusterInfo *clusters 0, struct vim__RetrieveKmipServersStatus_USCORETaskResponse *out);

//gsoap vim service method-action: RegisterKmipServer urn:vim25/6.5
int vim__RegisterKmipServer(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KmipServerSpec *server, struct vim__RegisterKmipServerResponse *out);

//gsoap vim service method-action: UpdateKmipServer urn:vim25/6.5
int vim__UpdateKmipServer(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KmipServerSpec *server, struct vim__UpdateKmipServerResponse *out);

//gsoap vim service method-action: MarkDefault urn:vim25/6.5
int vim__MarkDefault(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *clusterId, struct vim__MarkDefaultResponse *out);

//gsoap vim service method-action: SetDefaultKmsCluster urn:vim25/7.0
int vim__SetDefaultKmsCluster(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *entity 0, struct vim__KeyProviderId *clusterId 0, struct vim__SetDefaultKmsClusterResponse *out);

//gsoap vim service method-action: FindByInventoryPath urn:vim25/6.5
int vim__FindByInventoryPath(struct vim__ManagedObjectReference *_USCOREthis, char *inventoryPath, struct vim__FindByInventoryPathResponse *out);

//gsoap vim service method-action: UploadKmipServerCert urn:vim25/6.5
int vim__UploadKmipServerCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, char *certificate, struct vim__UploadKmipServerCertResponse *out);

//gsoap vim service method-action: UploadClientCert urn:vim25/6.5
int vim__UploadClientCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, char *certificate, char *privateKey, struct vim__UploadClientCertResponse *out);

//gsoap vim service method-action: GenerateSelfSignedClientCert urn:vim25/6.5
int vim__GenerateSelfSignedClientCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, struct vim__GenerateSelfSignedClientCertResponse *out);

//gsoap vim service method-action: RetrieveSelfSignedClientCert urn:vim25/6.5
int vim__RetrieveSelfSignedClientCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, struct vim__RetrieveSelfSignedClientCertResponse *out);

//gsoap vim service method-action: RetrieveClientCert urn:vim25/6.5
int vim__RetrieveClientCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, struct vim__RetrieveClientCertResponse *out);

//gsoap vim service method-action: GenerateClientCsr urn:vim25/6.5
int vim__GenerateClientCsr(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, struct vim__GenerateClientCsrResponse *out);

//gsoap vim service method-action: RetrieveClientCsr urn:vim25/6.5
int vim__RetrieveClientCsr(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, struct vim__RetrieveClientCsrResponse *out);

//gsoap vim service method-action: UpdateKmsSignedCsrClientCert urn:vim25/6.5
int vim__UpdateKmsSignedCsrClientCert(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *cluster, char *certificate, struct vim__UpdateKmsSignedCsrClientCertResponse *out);

//gsoap vim service method-action: GenerateKey urn:vim25/6.5
int vim__GenerateKey(struct vim__ManagedObjectReference *_USCOREthis, struct vim__KeyProviderId *keyProvider 0, struct vim__GenerateKeyResponse *out);

//gsoap vim service method-action: CreateVM_Task urn:vim25/6.5
int vim__CreateVM_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, struct vim__VirtualMachineConfigSpec *config, struct vim__ManagedObjectReference *pool, struct vim__ManagedObjectReference *host 0, struct vim__CreateVM_USCORETaskResponse *out);

//gsoap vim service method-action: Destroy_Task urn:vim25/6.5
int vim__Destroy_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, struct vim__Destroy_USCORETaskResponse *out);

//gsoap vim service method-action: PowerOnVM_Task urn:vim25/6.5
int vim__PowerOnVM_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *host 0, struct vim__PowerOnVM_USCORETaskResponse *out);

//gsoap vim service method-action: PowerOffVM_Task urn:vim25/6.5
int vim__PowerOffVM_USCORETask(struct vim__ManagedObjectReference *_USCOREthis, struct vim__PowerOffVM_USCORETaskResponse *out);

//gsoap vim service method-action: QueryCryptoKeyStatus urn:vim25/6.7.2
int vim__QueryCryptoKeyStatus(struct vim__ManagedObjectReference *_USCOREthis, int __sizekeyIds, struct vim__CryptoKeyId *keyIds 0, int checkKeyBitMap, struct vim__QueryCryptoKeyStatusResponse *out);

//gsoap vim service method-action: HasPrivilegeOnEntity urn:vim25/6.5
int vim__HasPrivilegeOnEntity(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *entity, char *sessionId, int __sizeprivId, char **privId 0, struct vim__HasPrivilegeOnEntityResponse *out);

//gsoap vim service method-action: AddCustomFieldDef urn:vim25/6.5
int vim__AddCustomFieldDef(struct vim__ManagedObjectReference *_USCOREthis, char *name, char *moType 0, struct vim__AddCustomFieldDefResponse *out);

//gsoap vim service method-action: RemoveCustomFieldDef urn:vim25/6.5
int vim__RemoveCustomFieldDef(struct vim__ManagedObjectReference *_USCOREthis, int key, struct vim__RemoveCustomFieldDefResponse *out);

//gsoap vim service method-action: SetField urn:vim25/6.5
int vim__SetField(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *entity, int key, char *value, struct vim__SetFieldResponse *out);

//gsoap pbm service method-action: PbmRetrieveServiceContent urn:pbm/2.0
int pbm__PbmRetrieveServiceContent(struct vim__ManagedObjectReference *_USCOREthis, struct pbm__PbmRetrieveServiceContentResponse *out);

//gsoap pbm service method-action: PbmQueryProfile urn:pbm/2.0
int pbm__PbmQueryProfile(struct vim__ManagedObjectReference *_USCOREthis, struct pbm__PbmProfileResourceType *resourceType, char *profileCategory 0, struct pbm__PbmQueryProfileResponse *out);

//gsoap pbm service method-action: PbmRetrieveContent urn:pbm/2.0
int pbm__PbmRetrieveContent(struct vim__ManagedObjectReference *_USCOREthis, int __sizeprofileIds, struct pbm__PbmProfileId *profileIds, struct pbm__PbmRetrieveContentResponse *out);

//gsoap pbm service method-action: PbmQueryAssociatedProfile urn:pbm/2.0
int pbm__PbmQueryAssociatedProfile(struct vim__ManagedObjectReference *_USCOREthis, struct pbm__PbmServerObjectRef *entity, struct pbm__PbmQueryAssociatedProfileResponse *out);

//gsoap pbm service method-action: PbmQueryAssociatedProfiles urn:pbm/2.0
int pbm__PbmQueryAssociatedProfiles(struct vim__ManagedObjectReference *_USCOREthis, int __sizeentities, struct pbm__PbmServerObjectRef *entities, struct pbm__PbmQueryAssociatedProfilesResponse *out);

//gsoap pbm service method-action: PbmCreate urn:pbm/2.0
int pbm__PbmCreate(struct vim__ManagedObjectReference *_USCOREthis, struct pbm__PbmCapabilityProfileCreateSpec *createSpec, struct pbm__PbmCreateResponse *out);

/* ------------------------------------------------------------------ */
/* vSAN Management API (/vsanHealth): a cluster's data-at-rest         */
/* encryption.  The answer (VsanConfigInfoEx) is read as a DOM tree.   */
/* ------------------------------------------------------------------ */

struct vsan__VsanClusterGetConfigResponse { xsd__anyType *returnval 0; };

//gsoap vsan service method-action: VsanClusterGetConfig urn:vsan
int vsan__VsanClusterGetConfig(struct vim__ManagedObjectReference *_USCOREthis, struct vim__ManagedObjectReference *cluster, struct vsan__VsanClusterGetConfigResponse *out);
